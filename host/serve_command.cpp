#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "service_list.hpp"
#include "troupe/rt/config.hpp"
#include "troupe/rt/host.hpp"
#include "troupe/rt/logging.hpp"

namespace troupe::host {

namespace {

void print_keys(const rt::config_schema& schema) {
  std::printf("usage: troupe serve [--config FILE] [--print-config] [--KEY VALUE ...]\n\n"
              "Every key comes from the YAML file (section: {name: value}), the env var\n"
              "TROUPE_SECTION_NAME or the flag --section-name; flags beat env beat file.\n\n");
  for (auto& [name, key] : schema.keys())
    std::printf("  %-28s %-32s %s (default %s)\n", rt::flag_name_of(name).c_str(),
                rt::env_name_of(name).c_str(), key.help.c_str(),
                key.default_value.empty() ? "\"\"" : key.default_value.c_str());
}

} // namespace

int serve_command(const args& a) {
  auto services = make_services();
  rt::config_schema schema;
  rt::declare_host_config(schema);
  for (auto& s : services)
    s->declare_config(schema);

  auto parsed = parse_flags(a, {"--print-config", "--help"});
  rt::config_inputs inputs;
  inputs.env = rt::process_environment();
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
    std::fprintf(stderr, "troupe serve: unexpected argument '%s'\n", parsed.positional[0].c_str());
    return 2;
  }
  auto loaded = rt::load_config(schema, inputs);
  if (!loaded.value) {
    std::fprintf(stderr, "troupe serve: %s\n", loaded.error.c_str());
    return 2;
  }
  auto& cfg = *loaded.value;
  if (print_config) {
    std::fputs(cfg.describe().c_str(), stdout);
    return 0;
  }
  rt::setup_logging(cfg.get_string("log.level"), cfg.get_string("log.format"));
  for (auto& w : loaded.warnings)
    spdlog::warn("{}", w);
  return rt::run_host(cfg, std::move(services));
}

} // namespace troupe::host
