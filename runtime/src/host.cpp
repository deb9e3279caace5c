#include "troupe/rt/host.hpp"

#include <absl/synchronization/mutex.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>
#include <unistd.h>

#include "troupe/rt/blocking_pool.hpp"
#include "troupe/rt/call_limits.hpp"
#include "troupe/rt/grpc_bridge.hpp"
#include "troupe/rt/lifecycle.hpp"

namespace troupe::rt {

void declare_host_config(config_schema& s) {
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  s.add_address("server.listen", "127.0.0.1:50051",
                "address the gRPC server listens on; port 0 picks a free port");
  s.add_uint("server.shutdown_grace_ms", 10000, 0, 3'600'000,
             "how long calls in flight may take to finish after SIGTERM");
  s.add_uint("server.shutdown_delay_ms", 0, 0, 600'000,
             "after SIGTERM, keep serving (health NOT_SERVING) this long so load "
             "balancers stop routing here before calls are refused");
  s.add_uint("server.shutdown_linger_ms", 200, 0, 60'000,
             "after the last call, time for connections to flush before they close");
  s.add_uint("server.max_message_bytes", 4 * 1024 * 1024, 1024, 1024u * 1024 * 1024,
             "largest gRPC message accepted or sent");
  s.add_bool("server.http2_bdp_probe", false,
             "let HTTP/2 windows grow with bandwidth (more memory per throttled stream)");
  s.add_uint("runtime.threads", cores, 1, 256, "CAF scheduler threads (default: online cores)");
  s.add_choice("runtime.scheduler", "sharing", {"sharing", "stealing"},
               "CAF scheduler policy: sharing blocks idle workers, stealing polls");
  s.add_uint("runtime.blocking_threads", 8, 1, 1024,
             "threads for blocking calls (SQLite, libpq, files)");
  s.add_uint("runtime.blocking_queue", 10000, 1, 10'000'000,
             "blocking calls that may wait for a thread before callers are shed");
  declare_call_limit_config(s);
  s.add_choice("log.level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"},
               "least severe level logged");
  s.add_choice("log.format", "text", {"text", "json"}, "text, or one JSON object per line");
}

void skip_abseil_deadlock_detection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {

int wait_for_shutdown_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

std::string listen_host(const std::string& listen) {
  return listen.substr(0, listen.rfind(':'));
}

} // namespace

int run_host(const config& cfg, std::vector<std::unique_ptr<service_module>> services) {
  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", cfg.get_uint("runtime.threads"));
  // Most actor work runs inline on gRPC threads, so CAF workers are often
  // idle; work stealing would have them poll (and sleep 50 us at a time)
  // while work sharing lets them block on one queue until there is work.
  caf_cfg.set("scheduler.policy", cfg.get_string("runtime.scheduler") == "stealing"
                                     ? caf::atom("stealing")
                                     : caf::atom("sharing"));
  caf::actor_system system{caf_cfg};

  blocking_pool blocking{cfg.get_uint("runtime.blocking_threads"),
                         cfg.get_uint("runtime.blocking_queue"), "troupe-blk"};
  configure_call_limits(call_limits_from(cfg));
  lifecycle life;
  host_context ctx{system, cfg, blocking, life};

  std::vector<std::string> started;
  auto stop_started = [&] {
    for (auto it = services.rbegin(); it != services.rend(); ++it)
      (*it)->stop();
  };
  for (auto& s : services) {
    try {
      s->start(ctx);
    } catch (const std::exception& e) {
      spdlog::error("service {} failed to start: {}", s->name(), e.what());
      stop_started();
      return 1;
    }
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  auto listen = cfg.get_string("server.listen");
  // gRPC sets SO_REUSEPORT by default: a second host on the same port would
  // silently share its traffic instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // With BDP probing gRPC grows each stream's receive window to many MB, so a
  // client stream the host has stopped reading (backpressure) still parks
  // that much in the transport. Off, it stays near 64 KiB per stream.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, cfg.get_bool("server.http2_bdp_probe") ? 1 : 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  auto max_msg = static_cast<int>(cfg.get_uint("server.max_message_bytes"));
  builder.SetMaxReceiveMessageSize(max_msg);
  builder.SetMaxSendMessageSize(max_msg);
  for (auto& s : services)
    for (auto* svc : s->grpc_services())
      builder.RegisterService(svc);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::error("cannot listen on {} (server.listen): address in use or invalid", listen);
    stop_started();
    return 1;
  }
  auto* health = server->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (auto& s : services)
    for (auto& name : s->grpc_service_names())
      health->SetServingStatus(name, true);

  spdlog::info("troupe {} listening on {}:{} with {}", TROUPE_VERSION, listen_host(listen), port,
               cfg.summary());

  int sig = wait_for_shutdown_signal();
  auto grace = std::chrono::milliseconds(cfg.get_uint("server.shutdown_grace_ms"));
  spdlog::info("received {}: draining for up to {} ms (send it again to exit at once)",
               sig == SIGINT ? "SIGINT" : "SIGTERM", grace.count());
  std::thread([] {
    auto again = wait_for_shutdown_signal();
    spdlog::warn("received {} again: exiting without draining",
                 again == SIGINT ? "SIGINT" : "SIGTERM");
    spdlog::default_logger()->flush();
    _exit(1);
  }).detach();

  // Probes see NOT_SERVING before anything else changes, so load balancers
  // move traffic away while the calls already here finish.
  health->SetServingStatus(false);
  // Load balancers learn NOT_SERVING from their next health check; until then
  // they still route here, and those calls are served, not refused.
  auto delay = std::min<std::chrono::milliseconds>(
    std::chrono::milliseconds(cfg.get_uint("server.shutdown_delay_ms")), grace);
  std::this_thread::sleep_for(delay);
  grace -= delay;
  life.begin_drain();
  mark_server_draining();
  for (auto& s : services)
    s->drain();
  auto started_at = std::chrono::steady_clock::now();
  auto grace_ends = started_at + grace;
  // Calls in flight finish while the connections stay up: stopping the gRPC
  // server as soon as the last call is done would close connections whose
  // final messages are still in the transport, and clients would lose them.
  while (open_calls() > 0 && std::chrono::steady_clock::now() < grace_ends)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (open_calls() == 0) {
    auto linger = std::chrono::milliseconds(cfg.get_uint("server.shutdown_linger_ms"));
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
      linger, std::max<std::chrono::steady_clock::duration>(
                grace_ends - std::chrono::steady_clock::now(), {})));
  }
  // Every call of ours has ended (or the grace is over): stop now. A later
  // deadline would only keep idle client connections open (gRPC waits for
  // them), and cancels whatever is still running, as the grace promises.
  server->Shutdown(std::chrono::system_clock::now());
  life.cancel_remaining_work();
  server->Wait();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started_at);
  spdlog::info("gRPC server drained in {} ms", took.count());
  stop_started();
  blocking.stop();
  spdlog::info("stopped");
  return 0;
}

} // namespace troupe::rt
