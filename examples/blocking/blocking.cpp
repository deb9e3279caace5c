// Blocking work offloaded to the host's blocking pool (ctx.blocking()): the
// actor only hands jobs out, so neither it nor the gRPC threads ever wait
// for a file, and it keeps answering while every pool thread is stuck.
#include <caf/all.hpp>

#include <system_error>

#include "blocking/v1/blocking.grpc.pb.h"
#include "file_digest.hpp"
#include "troupe/rt/blocking_pool.hpp"
#include "troupe/rt/host.hpp"

namespace rt = troupe::rt;
namespace v1 = blocking::v1;
using digest_call = rt::unary<v1::DigestRequest, v1::DigestReply>;
using pool_status_call = rt::unary<v1::PoolStatusRequest, v1::PoolStatusReply>;

// What a refused client is told to wait: about one file read.
constexpr std::chrono::milliseconds retry_after{500};

rt::call_status status_of(const std::system_error& e) {
  auto code = e.code() == std::errc::no_such_file_or_directory ? rt::status_code::not_found
              : e.code() == std::errc::permission_denied       ? rt::status_code::permission_denied
                                                               : rt::status_code::failed_precondition;
  return rt::call_status::of(code, e.what());
}

// On a pool thread. The call is answered from here: reply() is thread-safe,
// and going back through the actor would only cost a hop.
void digest(const digest_call& call) {
  try {
    auto d = blocking::digest_file(call->request().path(), call->token());
    if (!d)
      return; // the call ended mid-read, with its own status
    call->reply([&](v1::DigestReply& r) {
      r.set_fnv1a64(d->fnv1a64);
      r.set_bytes(d->bytes);
    });
  } catch (const std::system_error& e) {
    call->fail(status_of(e));
  }
}

caf::behavior digester(caf::event_based_actor*, rt::blocking_pool* pool) {
  return {
    [=](digest_call& call) {
      // A call that ends while its job waits is skipped, never read; a full
      // queue answers RESOURCE_EXHAUSTED at once.
      rt::run_blocking(*pool, call, [call] { digest(call); }, retry_after);
    },
    [=](pool_status_call& call) {
      call->reply([&](v1::PoolStatusReply& r) {
        r.set_threads(pool->threads());
        r.set_queue_capacity(pool->queue_capacity());
        r.set_running(pool->running());
        r.set_queued(pool->queued());
        r.set_completed(pool->completed());
        r.set_skipped(pool->skipped());
      });
    },
  };
}

std::optional<rt::call_status> check(const v1::DigestRequest& r) {
  if (r.path().empty())
    return rt::call_status::invalid_argument("path", "must not be empty");
  return std::nullopt;
}

class blocking_service final : public rt::service {
public:
  std::string name() const override { return "blocking"; }

  void start(rt::service_context& ctx) override {
    digester_ = ctx.system().spawn(digester, &ctx.blocking());
    auto api = ctx.serve<v1::Digester>();
    api.unary<v1::DigestRequest, v1::DigestReply>("Digest").validate(check).to(digester_);
    api.unary<v1::PoolStatusRequest, v1::PoolStatusReply>("PoolStatus").to(digester_);
  }

  void stop() override { caf::anon_send_exit(digester_, caf::exit_reason::user_shutdown); }

private:
  caf::actor digester_;
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<blocking_service>());
  return rt::serve(argc, argv, std::move(services));
}
