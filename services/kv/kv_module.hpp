#pragma once

#include <memory>

#include "troupe/rt/service_module.hpp"

namespace troupe::kv {

/// troupe.kv.v1.KeyValue as a hosted service.
std::unique_ptr<rt::service_module> make_kv_module();

} // namespace troupe::kv
