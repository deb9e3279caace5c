#include "fanin/encoded_event.hpp"

#include <grpc/slice.h>

#include <vector>

namespace troupe::fanin {

encoded_event encoded_event::encode(const v1::Event& event) {
  auto size = event.ByteSizeLong();
  grpc_slice bytes = grpc_slice_malloc(size);
  event.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(bytes));
  encoded_event out;
  out.seq_ = event.seq();
  out.wire_ = grpc::Slice(bytes, grpc::Slice::STEAL_REF);
  return out;
}

v1::Event encoded_event::decode() const {
  v1::Event event;
  event.ParseFromArray(wire_.begin(), static_cast<int>(wire_.size()));
  return event;
}

bool decode_event(const grpc::ByteBuffer& message, v1::Event& out) {
  std::vector<grpc::Slice> slices;
  if (!message.Dump(&slices).ok())
    return false;
  std::string bytes;
  for (const auto& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out.ParseFromString(bytes);
}

} // namespace troupe::fanin
