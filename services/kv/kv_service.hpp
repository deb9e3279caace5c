#pragma once

#include <memory>

#include "troupe/rt/service.hpp"

namespace troupe::kv {

/// troupe.kv.v1.KeyValue: keys sharded over actors that each own a storage
/// handle (SQLite, PostgreSQL or memory).
std::unique_ptr<rt::service> make_kv_service();

} // namespace troupe::kv
