#pragma once

// One event in its wire form. A topic serializes each event once, when it
// accepts it; the retention ring and every subscriber's stream then share
// those bytes through a reference-counted slice. Fan-out to N subscribers
// costs N references, not N copies of the message and N serializations.

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>

#include "troupe/fanin/v1/fanin.pb.h"

namespace troupe::fanin {

class encoded_event {
public:
  encoded_event() = default;

  /// Serializes `event` (its seq is kept alongside for the topic's cursors).
  static encoded_event encode(const v1::Event& event);

  std::uint64_t seq() const noexcept { return seq_; }

  /// A new reference to the bytes, ready for one stream write.
  grpc::ByteBuffer message() const { return grpc::ByteBuffer(&wire_, 1); }

  /// Parses the bytes back (tests and diagnostics, not the delivery path).
  v1::Event decode() const;

private:
  std::uint64_t seq_ = 0;
  grpc::Slice wire_;
};

/// Parses one written message back into an Event; false when it is not one.
bool decode_event(const grpc::ByteBuffer& message, v1::Event& out);

} // namespace troupe::fanin
