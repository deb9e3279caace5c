// Baseline: gRPC C++ with no actors, in the style of the fastest published
// C++ servers: one completion-queue thread per core, handlers run inline.
// Get/Put answer from a striped map; kv.latency_ms is emulated with a
// grpc::Alarm (a timer, no thread). With --storage-slots N at most N calls
// wait out the latency at once, the rest queue for a slot in arrival order,
// as behind a database's N connections: the same storage as troupe's
// --kv-shards 1 --kv-storage-concurrency N, with no admission control in
// front of it (everything queues).
//
//   plain_grpc --listen 127.0.0.1:50061 --threads 2 --latency-ms 0 [--storage-slots N]

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <csignal>
#include <cstdio>
#include <thread>
#include <vector>

#include "baseline_store.hpp"
#include "troupe/kv/v1/kv.grpc.pb.h"

namespace v1 = troupe::kv::v1;
using service_type = v1::KeyValue::WithAsyncMethod_Get<v1::KeyValue::WithAsyncMethod_Put<v1::KeyValue::Service>>;

namespace {

baseline::store the_store;
std::chrono::milliseconds latency{0};

struct tag_base {
  virtual ~tag_base() = default;
  virtual void proceed(bool ok) = 0;
  /// Takes a storage slot: the latency starts now.
  virtual void start_latency() = 0;
};

// The storage's connections: calls beyond `slots` wait for one, in order.
struct storage_slots {
  std::size_t slots = 0; // 0: unlimited
  std::mutex mtx;
  std::size_t busy = 0;
  std::deque<tag_base*> waiting;

  void enter(tag_base* call) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (slots != 0 && busy >= slots) {
        waiting.push_back(call);
        return;
      }
      ++busy;
    }
    call->start_latency();
  }
  void leave() {
    tag_base* next = nullptr;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (waiting.empty()) {
        --busy;
        return;
      }
      next = waiting.front();
      waiting.pop_front();
    }
    next->start_latency();
  }
} the_storage;

template <class Request, class Response>
class call_data final : public tag_base {
public:
  using request_fn = void (service_type::*)(grpc::ServerContext*, Request*,
                                            grpc::ServerAsyncResponseWriter<Response>*,
                                            grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                            void*);
  using handler_fn = grpc::Status (*)(const Request&, Response&);

  call_data(service_type* svc, grpc::ServerCompletionQueue* cq, request_fn req, handler_fn h)
    : svc_(svc), cq_(cq), request_(req), handler_(h), writer_(&ctx_) {
    (svc_->*request_)(&ctx_, &req_, &writer_, cq_, cq_, this);
  }

  void proceed(bool ok) override {
    switch (state_) {
      case state::waiting:
        if (!ok) {
          delete this;
          return;
        }
        new call_data(svc_, cq_, request_, handler_);
        if (latency.count() > 0) {
          state_ = state::delayed;
          the_storage.enter(this);
          return;
        }
        respond();
        return;
      case state::delayed:
        the_storage.leave();
        respond();
        return;
      case state::finishing:
        delete this;
        return;
    }
  }

  void start_latency() override {
    alarm_.Set(cq_, std::chrono::system_clock::now() + latency, this);
  }

private:
  enum class state { waiting, delayed, finishing };

  void respond() {
    state_ = state::finishing;
    auto st = handler_(req_, resp_);
    if (st.ok())
      writer_.Finish(resp_, st, this);
    else
      writer_.FinishWithError(st, this);
  }

  service_type* svc_;
  grpc::ServerCompletionQueue* cq_;
  request_fn request_;
  handler_fn handler_;
  grpc::ServerContext ctx_;
  Request req_;
  Response resp_;
  grpc::ServerAsyncResponseWriter<Response> writer_;
  grpc::Alarm alarm_;
  state state_ = state::waiting;
};

grpc::Status handle_get(const v1::GetRequest& req, v1::GetResponse& resp) {
  if (auto e = the_store.get(req.key())) {
    resp.set_found(true);
    resp.set_value(e->value);
    resp.set_version(e->version);
  }
  return grpc::Status::OK;
}

grpc::Status handle_put(const v1::PutRequest& req, v1::PutResponse& resp) {
  std::optional<std::uint64_t> if_version;
  if (req.has_if_version())
    if_version = req.if_version();
  auto v = the_store.put(req.key(), req.value(), if_version);
  if (!v)
    return grpc::Status(grpc::StatusCode::ABORTED, "if_version mismatch");
  resp.set_version(*v);
  return grpc::Status::OK;
}

} // namespace

int main(int argc, char** argv) {
  baseline::block_stop_signals();
  baseline::skip_abseil_deadlock_detection();

  auto listen = baseline::flag(argc, argv, "listen", "127.0.0.1:50061");
  auto threads = std::stoi(baseline::flag(argc, argv, "threads",
                                          std::to_string(std::thread::hardware_concurrency())));
  latency = std::chrono::milliseconds(std::stoi(baseline::flag(argc, argv, "latency-ms", "0")));
  the_storage.slots = std::stoul(baseline::flag(argc, argv, "storage-slots", "0"));
  // Calls each queue has waiting for the next request.
  auto preposted = std::stoi(baseline::flag(argc, argv, "preposted", "512"));

  service_type service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (int i = 0; i < threads; ++i)
    cqs.push_back(builder.AddCompletionQueue());
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "plain_grpc: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::fprintf(stderr, "plain_grpc listening on 127.0.0.1:%d with %d threads\n", port, threads);

  std::vector<std::thread> workers;
  for (auto& cq : cqs) {
    for (int i = 0; i < preposted; ++i) {
      new call_data<v1::GetRequest, v1::GetResponse>(&service, cq.get(),
                                                     &service_type::RequestGet, handle_get);
      new call_data<v1::PutRequest, v1::PutResponse>(&service, cq.get(),
                                                     &service_type::RequestPut, handle_put);
    }
    workers.emplace_back([q = cq.get()] {
      void* tag;
      bool ok;
      while (q->Next(&tag, &ok))
        static_cast<tag_base*>(tag)->proceed(ok);
    });
  }
  baseline::wait_for_stop_signal();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  for (auto& cq : cqs)
    cq->Shutdown();
  for (auto& w : workers)
    w.join();
  return 0;
}
