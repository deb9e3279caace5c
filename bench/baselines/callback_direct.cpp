// Design probe: gRPC's callback API answering Get from a map inside the
// handler, no actors. Separates the cost of the callback API from the cost
// of troupe's actor hop when comparing against plain_grpc.
//
//   callback_direct --listen 127.0.0.1:50063

#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>

#include "baseline_store.hpp"
#include "troupe/kv/v1/kv.grpc.pb.h"

namespace v1 = troupe::kv::v1;

namespace {

class direct_service final : public v1::KeyValue::CallbackService {
public:
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::GetResponse* resp) override {
    if (auto e = store_.get(req->key())) {
      resp->set_found(true);
      resp->set_value(e->value);
      resp->set_version(e->version);
    }
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  // So that bench/run can store the key its Gets read, as on the others.
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* req,
                                v1::PutResponse* resp) override {
    std::optional<std::uint64_t> if_version;
    if (req->has_if_version())
      if_version = req->if_version();
    auto* r = ctx->DefaultReactor();
    if (auto v = store_.put(req->key(), req->value(), if_version)) {
      resp->set_version(*v);
      r->Finish(grpc::Status::OK);
    } else {
      r->Finish(grpc::Status(grpc::StatusCode::ABORTED, "if_version mismatch"));
    }
    return r;
  }

private:
  baseline::store store_;
};

} // namespace

int main(int argc, char** argv) {
  baseline::block_stop_signals();
  baseline::skip_abseil_deadlock_detection();
  auto listen = baseline::flag(argc, argv, "listen", "127.0.0.1:50063");
  direct_service service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "callback_direct: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::fprintf(stderr, "callback_direct listening on 127.0.0.1:%d\n", port);
  baseline::wait_for_stop_signal();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
