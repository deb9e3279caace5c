#pragma once

// One small CAF actor system per test. Its destructor waits for every actor,
// so each test's actors must quit on their own.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <optional>

namespace troupe::test {

struct test_system {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  test_system() {
    cfg.set("scheduler.max-threads", 2);
    sys.emplace(cfg);
  }
};

} // namespace troupe::test
