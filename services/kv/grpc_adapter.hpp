#pragma once

#include <memory>

#include "troupe/kv/v1/kv.grpc.pb.h"

namespace troupe::kv {

class kv_shards;

/// troupe.kv.v1.KeyValue on gRPC's callback API: validates, then hands each
/// call to the shards without waiting.
std::unique_ptr<v1::KeyValue::CallbackService> make_grpc_adapter(kv_shards& shards,
                                                                 std::uint64_t max_value_bytes);

} // namespace troupe::kv
