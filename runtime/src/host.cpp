#include "troupe/rt/host.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>
#include <unistd.h>

#include "builtin/health_service.hpp"
#include "metrics/metrics_server.hpp"
#include "metrics/process_metrics.hpp"
#include "builtin/reflection_service.hpp"
#include "cpu_budget.hpp"
#include "pipeline/pipeline.hpp"
#include "shutdown_signals.hpp"
#include "troupe/rt/blocking_pool.hpp"
#include "troupe/rt/metrics.hpp"

namespace troupe::rt {

void service::declare_config(config_schema&) const {}

void declare_host_config(config_schema& s) {
  auto cpus = detail::usable_cpus();
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
  s.add_uint("runtime.threads", cpus, 1, 256,
             "pipeline lanes (each a thread polling gRPC and running actors) and CAF "
             "scheduler threads (default: the CPUs this process may use)");
  s.add_choice("runtime.scheduler", "sharing", {"sharing", "stealing"},
               "CAF scheduler policy: sharing blocks idle workers, stealing polls");
  s.add_uint("runtime.blocking_threads", std::max<std::size_t>(4, 4 * cpus), 1, 1024,
             "threads for blocking calls (SQLite, libpq, files); default 4 per CPU");
  s.add_uint("runtime.blocking_queue", 10000, 1, 10'000'000,
             "blocking calls that may wait for a thread before callers are shed");
  declare_call_limit_config(s);
  detail::declare_adaptive_limit_config(s);
  s.add_choice("log.level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"},
               "least severe level logged");
  s.add_choice("log.format", "text", {"text", "json"}, "text, or one JSON object per line");
  s.add_choice("log.access", "off", {"off", "errors", "all"},
               "one line per call on stdout (method, peer, status, duration, sizes, trace id): "
               "none, calls that did not end OK, or every call");
  s.add_address("metrics.listen", "127.0.0.1:9464",
                "address of the Prometheus endpoint http://HOST:PORT/metrics; port 0 picks a "
                "free port, \"\" turns it off",
                true);
}

namespace {

std::string listen_host(const std::string& listen) {
  return listen.substr(0, listen.rfind(':'));
}

std::string replica_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0)
    return "unknown";
  return buf;
}

// gRPC's message size limit is a hard one, answered by gRPC itself without
// our trailers. It sits above ours so that the pipeline refuses big messages
// first, with a status that names server.max_message_bytes.
int transport_limit(std::size_t ours) {
  auto slack = std::max<std::size_t>(ours, 64 * 1024);
  return static_cast<int>(std::min<std::size_t>(ours + slack, 2u * 1024 * 1024 * 1024 - 1));
}

void register_host_metrics(metrics::registry& m, const blocking_pool& blocking,
                           const detail::pipeline& pipeline) {
  m.gauge_fn("troupe_build_info", "Always 1; the labels say which troupe this is.",
             {{"version", TROUPE_VERSION}}, [] { return 1.0; });
  m.gauge_fn("troupe_blocking_pool_queued_jobs",
             "Blocking jobs waiting for a thread (runtime.blocking_queue bounds it).", {},
             [&blocking] { return static_cast<double>(blocking.queued()); });
  m.gauge_fn("troupe_blocking_pool_busy_threads", "Blocking threads running a job.", {},
             [&blocking] { return static_cast<double>(blocking.running()); });
  m.gauge_fn("troupe_blocking_pool_threads", "Blocking threads (runtime.blocking_threads).", {},
             [&blocking] { return static_cast<double>(blocking.threads()); });
  m.gauge_fn("troupe_server_open_calls", "Calls in flight over all methods.", {},
             [&pipeline] { return static_cast<double>(pipeline.open_calls()); });
}

} // namespace

int run_host(const config& cfg, service_list user_services, host_options options) {
  auto lanes = cfg.get_uint("runtime.threads");
  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", lanes);
  // Actor work triggered by calls runs on the lanes; CAF's workers take the
  // rest (timers, blocking-pool answers). Work sharing lets idle workers
  // block on one queue, where work stealing would have them poll.
  caf_cfg.set("scheduler.policy", cfg.get_string("runtime.scheduler") == "stealing"
                                     ? caf::atom("stealing")
                                     : caf::atom("sharing"));
  caf::actor_system system{caf_cfg};

  blocking_pool blocking{cfg.get_uint("runtime.blocking_threads"),
                         cfg.get_uint("runtime.blocking_queue"), "troupe-blk"};
  cancel_source shutdown;

  auto max_msg = cfg.get_uint("server.max_message_bytes");
  detail::pipeline_settings ps;
  ps.lanes = lanes;
  ps.max_message_bytes = max_msg;
  ps.limits = call_limits_from(cfg);
  ps.adaptive = detail::adaptive_limit_from(cfg);
  ps.replica = replica_name();
  ps.access_mode = detail::access_log::parse_mode(cfg.get_string("log.access"));
  ps.json_logs = cfg.get_string("log.format") == "json";
  detail::pipeline pipeline{system, ps};
  for (auto& i : options.interceptors)
    pipeline.add_interceptor(i);
  metrics::registry service_metrics;
  register_host_metrics(service_metrics, blocking, pipeline);

  auto health = std::make_unique<detail::health_service>();
  auto* health_ptr = health.get();
  service_list services;
  services.push_back(std::move(health));
  services.push_back(std::make_unique<detail::reflection_service>(
    [&pipeline] { return pipeline.service_names(); }));
  for (auto& s : user_services)
    services.push_back(std::move(s));

  std::size_t started = 0;
  auto stop_started = [&] {
    for (std::size_t i = started; i-- > 0;)
      services[i]->stop();
  };
  for (auto& s : services) {
    service_context ctx{system, cfg, blocking, shutdown.token(), pipeline, service_metrics};
    try {
      s->start(ctx);
      ++started;
    } catch (const std::exception& e) {
      spdlog::error("service {} failed to start: {}", s->name(), e.what());
      stop_started();
      return 1;
    }
  }

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
  builder.SetMaxReceiveMessageSize(transport_limit(max_msg));
  builder.SetMaxSendMessageSize(static_cast<int>(max_msg));
  try {
    pipeline.install(builder);
  } catch (const std::exception& e) {
    spdlog::error("cannot serve what the services declared: {}", e.what());
    stop_started();
    return 1;
  }
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::error("cannot listen on {} (server.listen): address in use or invalid", listen);
    stop_started();
    return 1;
  }
  pipeline.start();
  detail::metrics_server metrics_endpoint;
  if (auto at = cfg.get_string("metrics.listen"); !at.empty()) {
    std::string error;
    int mport = metrics_endpoint.start(
      at,
      [&](std::string& out) {
        pipeline.write_metrics(out);
        service_metrics.write_text(out);
        detail::write_process_metrics(out);
      },
      error);
    if (mport == 0) {
      spdlog::error("cannot serve metrics on {} (metrics.listen): {}", at, error);
      server->Shutdown(std::chrono::system_clock::now());
      server->Wait();
      stop_started();
      pipeline.stop(std::chrono::seconds(2));
      return 1;
    }
    spdlog::info("metrics on http://{}:{}/metrics", listen_host(at), mport);
  }
  health_ptr->set_all(pipeline.service_names(), true);

  spdlog::info("troupe {} listening on {}:{} with {} lanes ({}) and {}", TROUPE_VERSION,
               listen_host(listen), port, lanes, detail::cpu_budget_summary(), cfg.summary());

  int sig = detail::wait_for_shutdown_signal();
  auto grace = std::chrono::milliseconds(cfg.get_uint("server.shutdown_grace_ms"));
  spdlog::info("received {}: draining for up to {} ms (send it again to exit at once)",
               sig == SIGINT ? "SIGINT" : "SIGTERM", grace.count());
  detail::exit_on_second_signal();

  // Probes see NOT_SERVING before anything else changes, so load balancers
  // move traffic away while the calls already here finish.
  health_ptr->set_all(pipeline.service_names(), false);
  // Load balancers learn NOT_SERVING from their next health check; until then
  // they still route here, and those calls are served, not refused.
  auto delay = std::min<std::chrono::milliseconds>(
    std::chrono::milliseconds(cfg.get_uint("server.shutdown_delay_ms")), grace);
  std::this_thread::sleep_for(delay);
  grace -= delay;
  pipeline.begin_drain();
  for (auto& s : services)
    s->drain();
  auto started_at = std::chrono::steady_clock::now();
  auto grace_ends = started_at + grace;
  // Calls in flight finish while the connections stay up.
  while (pipeline.open_calls() > 0 && std::chrono::steady_clock::now() < grace_ends)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto linger = std::chrono::milliseconds(cfg.get_uint("server.shutdown_linger_ms"));
  if (pipeline.open_calls() > 0) {
    // Whatever is left ends the documented way, UNAVAILABLE, rather than by
    // the transport resetting its streams.
    spdlog::info("{} calls still open after the grace period: ending them UNAVAILABLE",
                 pipeline.open_calls());
    shutdown.cancel(cancel_reason::shutting_down);
    pipeline.end_open_calls();
    auto until = std::chrono::steady_clock::now() + linger;
    while (pipeline.open_calls() > 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Stopping the server as soon as the last call is done would close
  // connections whose final frames are still in the transport.
  std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
    linger, std::max<std::chrono::steady_clock::duration>(
              grace_ends + linger - std::chrono::steady_clock::now(), {})));
  // A later deadline would only keep idle client connections open (gRPC
  // waits for them).
  server->Shutdown(std::chrono::system_clock::now());
  shutdown.cancel(cancel_reason::shutting_down);
  server->Wait();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started_at);
  spdlog::info("gRPC server drained in {} ms", took.count());
  metrics_endpoint.stop();
  stop_started();
  pipeline.stop(std::chrono::seconds(2));
  blocking.stop();
  spdlog::info("stopped");
  return 0;
}

} // namespace troupe::rt
