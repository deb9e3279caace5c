#pragma once

#include <memory>

#include "troupe/rt/service_module.hpp"

namespace troupe::fanin {

/// troupe.fanin.v1.FanIn as a hosted service.
std::unique_ptr<rt::service_module> make_fanin_module();

} // namespace troupe::fanin
