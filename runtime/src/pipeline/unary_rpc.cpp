#include "pipeline/unary_rpc.hpp"

namespace troupe::rt::detail {

unary_rpc::unary_rpc(pipeline_state& state, const method_entry& method, lane& home,
                     void* typed_storage)
  : rpc_base(state, method, home), responder_(&ctx_) {
  typed_storage_ = typed_storage;
}

void unary_rpc::post() {
  ctx_.AsyncNotifyWhenDone(&done_tag_);
  method_.service->request_unary(method_.index, &ctx_, &request_, &responder_, home_.cq(),
                                 &arrived_tag_);
}

void unary_rpc::arrived(bool ok) {
  if (!ok) {
    discard(); // the server is shutting down; the done tag never comes
    return;
  }
  post_request(state_, method_, home_);
  begin();
  if (auto refused = admit()) {
    refuse(std::move(*refused));
    return;
  }
  if (auto bad = parse(request_, "request")) {
    typed_->end_with(std::move(*bad), cancel_reason::none);
    return;
  }
  method_.spec.dispatch(typed_, method_.spec);
}

void unary_rpc::send_reply(call_status&& status, const google::protobuf::MessageLite* response) {
  release_slot(true);
  record(status);
  add_trailers(status);
  typed_->base().add_ref(); // for the finish tag
  reply_status_ = grpc::Status::OK;
  if (!status.ok() || response == nullptr || !serialize(*response, reply_)) {
    if (status.ok())
      status = call_status::of(status_code::internal, "response could not be serialized");
    reply_status_ = to_grpc(status);
  } else {
    bytes_sent_ += reply_.Length();
  }
  if (auto* here = lane::current()) {
    here->defer(this);
    return;
  }
  send_now();
}

void unary_rpc::send_now() {
  if (reply_status_.ok())
    responder_.Finish(reply_, reply_status_, &finished_tag_);
  else
    responder_.FinishWithError(reply_status_, &finished_tag_);
}

void unary_rpc::finished(bool) {
  typed_->base().release();
}

void unary_rpc::done(bool) {
  over(settle(ctx_.IsCancelled()));
}

} // namespace troupe::rt::detail
