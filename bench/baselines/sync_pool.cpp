// Baseline: the traditional synchronous design. A fixed pool of threads,
// each call holds one for its whole life and blocks for the simulated
// storage latency.
//
//   sync_pool --listen 127.0.0.1:50062 --threads 256 --latency-ms 200

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "baseline_store.hpp"
#include "troupe/kv/v1/kv.grpc.pb.h"

namespace v1 = troupe::kv::v1;

namespace {

class blocking_service final : public v1::KeyValue::Service {
public:
  explicit blocking_service(std::chrono::milliseconds latency) : latency_(latency) {}

  grpc::Status Get(grpc::ServerContext*, const v1::GetRequest* req,
                   v1::GetResponse* resp) override {
    std::this_thread::sleep_for(latency_);
    if (auto e = store_.get(req->key())) {
      resp->set_found(true);
      resp->set_value(e->value);
      resp->set_version(e->version);
    }
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext*, const v1::PutRequest* req,
                   v1::PutResponse* resp) override {
    std::this_thread::sleep_for(latency_);
    std::optional<std::uint64_t> if_version;
    if (req->has_if_version())
      if_version = req->if_version();
    auto v = store_.put(req->key(), req->value(), if_version);
    if (!v)
      return grpc::Status(grpc::StatusCode::ABORTED, "if_version mismatch");
    resp->set_version(*v);
    return grpc::Status::OK;
  }

private:
  std::chrono::milliseconds latency_;
  baseline::store store_;
};

} // namespace

int main(int argc, char** argv) {
  baseline::block_stop_signals();
  baseline::skip_abseil_deadlock_detection();

  auto listen = baseline::flag(argc, argv, "listen", "127.0.0.1:50062");
  auto threads = std::stoi(baseline::flag(argc, argv, "threads", "256"));
  auto latency = std::chrono::milliseconds(std::stoi(baseline::flag(argc, argv, "latency-ms", "0")));

  blocking_service service(latency);
  grpc::ResourceQuota quota("sync_pool");
  quota.SetMaxThreads(threads);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "sync_pool: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::fprintf(stderr, "sync_pool listening on 127.0.0.1:%d with %d threads\n", port, threads);
  baseline::wait_for_stop_signal();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
