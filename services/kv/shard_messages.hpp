#pragma once

// What a kv shard actor is asked to do. Unary calls arrive as their own
// handles (the pipeline routes them by key); MultiGet and Scan send one
// part per shard they touch.

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kv/storage/storage.hpp"
#include "troupe/kv/v1/kv.pb.h"
#include "troupe/rt/task.hpp"
#include "troupe/rt/unary.hpp"

namespace troupe::kv {

using get_call = rt::unary<v1::GetRequest, v1::GetResponse>;
using put_call = rt::unary<v1::PutRequest, v1::PutResponse>;
using delete_call = rt::unary<v1::DeleteRequest, v1::DeleteResponse>;
using multi_get_call = rt::unary<v1::MultiGetRequest, v1::MultiGetResponse>;

/// The keys of one MultiGet that one shard owns; the shard completes the
/// promise with their entries (in `indexes` order) or with an error.
struct multi_get_part {
  std::shared_ptr<const v1::MultiGetRequest> request;
  std::vector<std::uint32_t> indexes;
  rt::task_promise<std::vector<v1::Entry>> promise;
};

/// One batch of a Scan's merge: keys of this shard after `cursor`.
struct scan_part {
  caf::actor merge;
  std::uint32_t shard = 0;
  std::string prefix;
  std::string cursor;
  std::uint32_t limit = 0;
  rt::cancel_token token;
  rt::deadline due;
};

/// A shard's answer to a scan_part.
struct scan_batch {
  std::uint32_t shard = 0;
  std::vector<record> records;
  bool exhausted = false;
};

} // namespace troupe::kv

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::kv::multi_get_part)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::kv::scan_part)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::kv::scan_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::rt::call_status)
