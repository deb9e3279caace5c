#pragma once

#include "kv/shard_messages.hpp"

namespace troupe::kv {

class kv_shards;

/// A try_join over the shards the keys live on: each shard fills the
/// entries of its keys, the call is answered once all have, in request
/// order; the first failure answers for all and the other parts are
/// cancelled, so their storage calls are skipped.
void multi_get(const kv_shards& shards, multi_get_call call);

} // namespace troupe::kv
