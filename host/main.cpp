#include <absl/synchronization/mutex.h>

#include <cstdio>
#include <string>

#include "commands.hpp"
#include "troupe/loadgen/bench_command.hpp"

namespace {

void usage(std::FILE* out) {
  std::fputs(
    "usage: troupe COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve      run the host (gRPC server and actors); --help lists its config keys\n"
    "  health     probe grpc.health.v1 of a running host; exit 0 when SERVING\n"
    "  kv         get, put, delete, scan or multiget keys of a running host; --help\n"
    "  bench      load-test a running host (kv-get, kv-put, kv-mixed, fanin); --help\n"
    "  top        live view of running hosts from their /metrics; --help\n"
    "  version    print the version\n",
    out);
}

} // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG: every gRPC mutex would record a
  // lock-order graph, a fifth of a busy client's CPU (serve does the same).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  troupe::host::args rest(argv + 2, argv + argc);
  if (cmd == "serve")
    return troupe::host::serve_command(rest);
  if (cmd == "health")
    return troupe::host::health_command(rest);
  if (cmd == "kv")
    return troupe::host::kv_command(rest);
  if (cmd == "top")
    return troupe::host::top_command(rest);
  if (cmd == "bench")
    return troupe::loadgen::bench_command(rest);
  if (cmd == "version" || cmd == "--version") {
    std::printf("troupe %s\n", TROUPE_VERSION);
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "troupe: unknown command '%s'\n", cmd.c_str());
  usage(stderr);
  return 2;
}
