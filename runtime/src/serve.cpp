// `troupe serve` as one call a user's main() can make.

#include <spdlog/spdlog.h>

#include <cstdio>

#include "logs/library_logs.hpp"
#include "shutdown_signals.hpp"
#include "troupe/cli/flags.hpp"
#include "troupe/rt/host.hpp"
#include "troupe/rt/logging.hpp"

namespace troupe::rt {

namespace {

void print_keys(const config_schema& schema) {
  std::printf("usage: serve [--config FILE] [--print-config] [--KEY VALUE ...]\n\n"
              "Every key comes from the YAML file (section: {name: value}), the env var\n"
              "TROUPE_SECTION_NAME or the flag --section-name; flags beat env beat file.\n\n");
  for (auto& [name, key] : schema.keys())
    std::printf("  %-28s %-32s %s (default %s)\n", flag_name_of(name).c_str(),
                env_name_of(name).c_str(), key.help.c_str(),
                key.default_value.empty() ? "\"\"" : key.default_value.c_str());
}

} // namespace

int serve(int argc, char** argv, service_list services, host_options options) {
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  return serve(args, std::move(services), std::move(options));
}

int serve(const std::vector<std::string>& args, service_list services, host_options options) {
  // Before CAF or gRPC start threads: they inherit the mask, so only the
  // host's signal wait ever sees SIGINT/SIGTERM.
  detail::block_shutdown_signals();
  detail::skip_abseil_deadlock_detection();

  config_schema schema;
  declare_host_config(schema);
  for (auto& s : services)
    s->declare_config(schema);

  auto parsed = cli::parse_flags(args, {"--print-config", "--help"});
  config_inputs inputs;
  inputs.env = process_environment();
  bool print_config = false;
  for (auto& [flag, value] : parsed.flags) {
    if (flag == "--help") {
      print_keys(schema);
      return 0;
    }
    if (flag == "--print-config")
      print_config = value != "false";
    else if (flag == "--config")
      inputs.file = value;
    else
      inputs.flags.emplace_back(flag, value);
  }
  if (!parsed.positional.empty()) {
    std::fprintf(stderr, "serve: unexpected argument '%s'\n", parsed.positional[0].c_str());
    return 2;
  }
  auto loaded = load_config(schema, inputs);
  if (!loaded.value) {
    std::fprintf(stderr, "serve: %s\n", loaded.error.c_str());
    return 2;
  }
  auto& cfg = *loaded.value;
  if (print_config) {
    std::fputs(cfg.describe().c_str(), stdout);
    return 0;
  }
  setup_logging(cfg.get_string("log.level"), cfg.get_string("log.format"));
  detail::route_library_logs();
  for (auto& w : loaded.warnings)
    spdlog::warn("{}", w);
  return run_host(cfg, std::move(services), std::move(options));
}

} // namespace troupe::rt
