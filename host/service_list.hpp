#pragma once

#include "troupe/rt/host.hpp"

namespace troupe::host {

/// Every service this binary hosts, in start-up order.
rt::service_list make_services();

} // namespace troupe::host
