#include <chrono>
#include <csignal>
#include <cstdio>

#include <grpcpp/grpcpp.h>

#include "commands.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "troupe/cli/status_name.hpp"

namespace troupe::host {

namespace {

const char* status_name(grpc::health::v1::HealthCheckResponse::ServingStatus s) {
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(s).c_str();
}

} // namespace

// Exit codes: 0 SERVING, 1 anything else (for container HEALTHCHECKs), 2 usage.
int health_command(const args& a) {
  // A one-shot probe has nothing to drain: let Ctrl-C end it the usual way.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);

  std::string target = "127.0.0.1:50051";
  std::string service;
  long deadline_ms = 2000;
  auto parsed = parse_flags(a, {});
  for (auto& [flag, value] : parsed.flags) {
    if (flag == "--target")
      target = value;
    else if (flag == "--service")
      service = value;
    else if (flag == "--deadline-ms")
      deadline_ms = std::strtol(value.c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "troupe health: unknown flag %s\n"
                           "usage: troupe health [--target HOST:PORT] [--service NAME] "
                           "[--deadline-ms N]\n",
                   flag.c_str());
      return 2;
    }
  }
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  auto st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) {
    std::fprintf(stderr, "troupe health: %s: %s (target %s)\n",
                 cli::status_code_name(st.error_code()), st.error_message().c_str(),
                 target.c_str());
    return 1;
  }
  std::printf("%s\n", status_name(resp.status()));
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

} // namespace troupe::host
