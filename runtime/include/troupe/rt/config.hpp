#pragma once

// One configuration rule for the whole host: every key `section.name` can come
// from a YAML file, from the env var TROUPE_SECTION_NAME, or from the flag
// --section-name. Flags beat env, env beats file, file beats defaults.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace troupe::rt {

enum class config_source { default_value, file, env, flag };

const char* to_string(config_source);

/// Checks a textual value and returns it normalised, or an error text that
/// says what was expected (the loader adds the key and the source).
using config_validator =
  std::function<std::optional<std::string>(const std::string& value, std::string& error)>;

struct config_key {
  std::string name;
  std::string default_value;
  std::string help;
  config_validator validate;
};

/// Every key the host understands; runtime and each service declare theirs.
class config_schema {
public:
  void add(config_key key);
  void add_string(std::string name, std::string default_value, std::string help);
  void add_uint(std::string name, std::uint64_t default_value, std::uint64_t min,
                std::uint64_t max, std::string help);
  void add_bool(std::string name, bool default_value, std::string help);
  void add_choice(std::string name, std::string default_value,
                  std::vector<std::string> choices, std::string help);
  /// host:port with a port in 0..65535 (0 picks a free port).
  /// HOST:PORT; with `empty_turns_off`, "" is valid too and means off.
  void add_address(std::string name, std::string default_value, std::string help,
                   bool empty_turns_off = false);

  const config_key* find(const std::string& name) const;
  const std::map<std::string, config_key>& keys() const { return keys_; }

private:
  std::map<std::string, config_key> keys_;
};

/// `kv.latency_ms` -> `TROUPE_KV_LATENCY_MS`
std::string env_name_of(const std::string& key);
/// `kv.latency_ms` -> `--kv-latency-ms`
std::string flag_name_of(const std::string& key);

struct config_value {
  std::string text;
  config_source source = config_source::default_value;
  std::string origin; // file path, env var or flag that set it
};

/// The effective configuration: every declared key has a value.
class config {
public:
  const std::string& get_string(const std::string& key) const;
  std::uint64_t get_uint(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const config_value& entry(const std::string& key) const;
  const std::map<std::string, config_value>& entries() const { return values_; }

  /// `key = value  (source)` lines, sorted by key.
  std::string describe() const;
  /// One line, for the start-up log.
  std::string summary() const;

  void set(const std::string& key, config_value v) { values_[key] = std::move(v); }

private:
  std::map<std::string, config_value> values_;
};

struct config_inputs {
  std::optional<std::string> file;                  // --config FILE
  std::map<std::string, std::string> env;           // the process environment
  std::vector<std::pair<std::string, std::string>> flags; // (--flag, value)
};

struct config_result {
  std::optional<config> value;
  std::string error;               // names the key and the source on failure
  std::vector<std::string> warnings;
};

config_result load_config(const config_schema& schema, const config_inputs& inputs);

/// The current process environment as a map.
std::map<std::string, std::string> process_environment();

} // namespace troupe::rt
