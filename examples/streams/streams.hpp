#pragma once

// The three methods of streams.v1.Streams, one file each.

#include "streams/v1/streams.pb.h"
#include "troupe/rt/bidi_stream.hpp"
#include "troupe/rt/client_stream.hpp"
#include "troupe/rt/server_stream.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace rt = troupe::rt;
namespace v1 = streams::v1;

using count_call = rt::server_streaming<v1::CountRequest, v1::Number>;
using sum_call = rt::client_streaming<v1::Number, v1::Total>;
using chat_call = rt::bidi_streaming<v1::Line, v1::Line>;

/// Streams 1..n at the pace the client reads them (count.cpp).
void count(caf::actor_system& system, count_call call);
/// Adds up the numbers the client sends (sum.cpp).
void sum(sum_call call);
/// Sends each line back upper-cased (chat.cpp).
void chat(chat_call call);
