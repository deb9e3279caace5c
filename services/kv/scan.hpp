#pragma once

#include "troupe/kv/v1/kv.pb.h"
#include "troupe/rt/server_stream.hpp"

namespace troupe::kv {

class kv_shards;

using scan_call = rt::server_streaming<v1::ScanRequest, v1::Entry>;

/// A k-way merge of per-shard scans, streamed as it goes: each shard is
/// asked for the next batch of its keys only when the merge has used up the
/// last one, and the merge pauses while the client's buffer is full.
void scan(const kv_shards& shards, scan_call call);

} // namespace troupe::kv
