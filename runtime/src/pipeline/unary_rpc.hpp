#pragma once

// A unary call on gRPC's async API: the request comes with the call, the
// answer goes out in one batch (headers, message, status).

#include "pipeline/rpc.hpp"

namespace troupe::rt::detail {

class unary_rpc final : public rpc_base, private deferred_send {
public:
  unary_rpc(pipeline_state& state, const method_entry& method, lane& home, void* typed_storage);

  void post() override;
  void send_reply(call_status&& status, const google::protobuf::MessageLite* response) override;

private:
  void send_now() override;
  void arrived(bool ok);
  void finished(bool ok);
  void done(bool ok);

  grpc::ByteBuffer request_;
  grpc::ByteBuffer reply_;     // a reply held back by the lane
  grpc::Status reply_status_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_;
  tag<unary_rpc, &unary_rpc::arrived> arrived_tag_{this};
  tag<unary_rpc, &unary_rpc::finished> finished_tag_{this};
  tag<unary_rpc, &unary_rpc::done> done_tag_{this};
};

/// Posts one more request for `method` on `home` (a replacement for one that
/// just arrived). Defined with the pipeline.
void post_request(pipeline_state& state, const method_entry& method, lane& home);

} // namespace troupe::rt::detail
