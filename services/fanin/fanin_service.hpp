#pragma once

#include <memory>

#include "troupe/rt/service.hpp"

namespace troupe::fanin {

/// troupe.fanin.v1.FanIn: producer streams merged per topic (one actor per
/// topic) and fanned out to subscribers, with backpressure end to end.
std::unique_ptr<rt::service> make_fanin_service();

} // namespace troupe::fanin
