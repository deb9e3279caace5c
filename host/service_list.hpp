#pragma once

#include <memory>
#include <vector>

#include "troupe/rt/service_module.hpp"

namespace troupe::host {

/// Every service this binary hosts, in start-up order.
std::vector<std::unique_ptr<rt::service_module>> make_services();

} // namespace troupe::host
