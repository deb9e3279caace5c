#include "troupe/rt/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

extern char** environ;

namespace troupe::rt {

const char* to_string(config_source s) {
  switch (s) {
    case config_source::default_value: return "default";
    case config_source::file: return "file";
    case config_source::env: return "env";
    case config_source::flag: return "flag";
  }
  return "?";
}

void config_schema::add(config_key key) {
  auto name = key.name;
  keys_[name] = std::move(key);
}

namespace {

std::optional<std::uint64_t> parse_uint(const std::string& text) {
  std::uint64_t v = 0;
  auto first = text.data();
  auto last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc{} || ptr != last)
    return std::nullopt;
  return v;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

} // namespace

void config_schema::add_string(std::string name, std::string default_value, std::string help) {
  add({std::move(name), std::move(default_value), std::move(help),
       [](const std::string& v, std::string&) -> std::optional<std::string> { return v; }});
}

void config_schema::add_uint(std::string name, std::uint64_t default_value, std::uint64_t min,
                             std::uint64_t max, std::string help) {
  add({std::move(name), std::to_string(default_value), std::move(help),
       [min, max](const std::string& v, std::string& error) -> std::optional<std::string> {
         auto n = parse_uint(v);
         if (!n || *n < min || *n > max) {
           error = "expected a whole number from " + std::to_string(min) + " to "
                   + std::to_string(max);
           return std::nullopt;
         }
         return std::to_string(*n);
       }});
}

void config_schema::add_bool(std::string name, bool default_value, std::string help) {
  add({std::move(name), default_value ? "true" : "false", std::move(help),
       [](const std::string& v, std::string& error) -> std::optional<std::string> {
         auto l = lower(v);
         if (l == "true" || l == "1" || l == "yes" || l == "on")
           return std::string{"true"};
         if (l == "false" || l == "0" || l == "no" || l == "off")
           return std::string{"false"};
         error = "expected true or false";
         return std::nullopt;
       }});
}

void config_schema::add_choice(std::string name, std::string default_value,
                               std::vector<std::string> choices, std::string help) {
  add({std::move(name), std::move(default_value), std::move(help),
       [choices](const std::string& v, std::string& error) -> std::optional<std::string> {
         if (std::find(choices.begin(), choices.end(), v) != choices.end())
           return v;
         error = "expected one of:";
         for (auto& c : choices)
           error += " " + c;
         return std::nullopt;
       }});
}

void config_schema::add_address(std::string name, std::string default_value, std::string help,
                                bool empty_turns_off) {
  add({std::move(name), std::move(default_value), std::move(help),
       [empty_turns_off](const std::string& v, std::string& error) -> std::optional<std::string> {
         if (v.empty() && empty_turns_off)
           return v;
         auto colon = v.rfind(':');
         if (colon == std::string::npos || colon == 0) {
           error = "expected HOST:PORT";
           return std::nullopt;
         }
         auto port = parse_uint(v.substr(colon + 1));
         if (!port || *port > 65535) {
           error = "expected HOST:PORT with a port from 0 to 65535";
           return std::nullopt;
         }
         return v;
       }});
}

const config_key* config_schema::find(const std::string& name) const {
  auto i = keys_.find(name);
  return i == keys_.end() ? nullptr : &i->second;
}

std::string env_name_of(const std::string& key) {
  std::string out = "TROUPE_";
  for (char c : key)
    out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string flag_name_of(const std::string& key) {
  std::string out = "--";
  for (char c : key)
    out += (c == '.' || c == '_') ? '-' : c;
  return out;
}

const config_value& config::entry(const std::string& key) const {
  auto i = values_.find(key);
  if (i == values_.end())
    throw std::logic_error("config key not declared: " + key);
  return i->second;
}

const std::string& config::get_string(const std::string& key) const {
  return entry(key).text;
}

std::uint64_t config::get_uint(const std::string& key) const {
  auto v = parse_uint(entry(key).text);
  if (!v)
    throw std::logic_error("config key is not a number: " + key);
  return *v;
}

bool config::get_bool(const std::string& key) const {
  return entry(key).text == "true";
}

namespace {

// Connection strings carry passwords (libpq `password=...`, URLs
// `scheme://user:secret@host`); logs and --print-config must not.
std::string redact(const std::string& value) {
  std::string out = value;
  for (std::size_t at = out.find("password="); at != std::string::npos;
       at = out.find("password=", at + 1)) {
    auto from = at + 9;
    auto to = out.find(' ', from);
    out.replace(from, (to == std::string::npos ? out.size() : to) - from, "***");
  }
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto at = out.find('@', scheme);
    auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      out.replace(colon + 1, at - colon - 1, "***");
  }
  return out;
}

} // namespace

std::string config::describe() const {
  std::ostringstream out;
  size_t width = 0;
  for (auto& [k, v] : values_)
    width = std::max(width, k.size() + 3 + redact(v.text).size());
  for (auto& [k, v] : values_) {
    auto line = k + " = " + redact(v.text);
    out << line << std::string(width - line.size() + 2, ' ') << "# " << to_string(v.source);
    if (!v.origin.empty())
      out << " (" << v.origin << ")";
    out << '\n';
  }
  return out.str();
}

std::string config::summary() const {
  std::string out;
  for (auto& [k, v] : values_) {
    if (!out.empty())
      out += ' ';
    out += k + "=" + redact(v.text);
  }
  return out;
}

namespace {

// Flattens nested maps into dotted keys; scalars only at the leaves.
bool flatten_yaml(const YAML::Node& node, const std::string& prefix,
                  std::vector<std::pair<std::string, std::string>>& out, std::string& error) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto name = it->first.as<std::string>();
      auto key = prefix.empty() ? name : prefix + "." + name;
      if (!flatten_yaml(it->second, key, out, error))
        return false;
    }
    return true;
  }
  if (node.IsScalar()) {
    out.emplace_back(prefix, node.Scalar());
    return true;
  }
  if (node.IsNull()) {
    error = "key " + prefix + " has no value";
    return false;
  }
  error = "key " + prefix + " must be a single value, not a list";
  return false;
}

bool apply(const config_schema& schema, config& cfg, const std::string& key,
           const std::string& text, config_source source, const std::string& origin,
           std::string& error) {
  auto* decl = schema.find(key);
  if (decl == nullptr) {
    error = std::string{"unknown config key '"} + key + "' from " + to_string(source) + " "
            + origin;
    return false;
  }
  std::string why;
  auto normalised = decl->validate(text, why);
  if (!normalised) {
    error = std::string{"bad value '"} + text + "' for " + key + " from " + to_string(source)
            + " " + origin + ": " + why;
    return false;
  }
  cfg.set(key, {*normalised, source, origin});
  return true;
}

} // namespace

config_result load_config(const config_schema& schema, const config_inputs& inputs) {
  config_result result;
  config cfg;
  for (auto& [name, key] : schema.keys())
    cfg.set(name, {key.default_value, config_source::default_value, ""});

  if (inputs.file) {
    std::vector<std::pair<std::string, std::string>> pairs;
    try {
      auto root = YAML::LoadFile(*inputs.file);
      if (!root.IsNull() && !root.IsMap()) {
        result.error = "config file " + *inputs.file + " must be a map of sections";
        return result;
      }
      if (!flatten_yaml(root, "", pairs, result.error)) {
        result.error = "config file " + *inputs.file + ": " + result.error;
        return result;
      }
    } catch (const YAML::Exception& e) {
      result.error = "cannot read config file " + *inputs.file + ": " + e.what();
      return result;
    }
    for (auto& [k, v] : pairs)
      if (!apply(schema, cfg, k, v, config_source::file, *inputs.file, result.error))
        return result;
  }

  // Unknown TROUPE_* variables only warn: orchestrators add their own (a
  // Kubernetes service named "troupe" injects TROUPE_PORT, TROUPE_SERVICE_HOST).
  std::map<std::string, std::string> env_to_key;
  for (auto& [name, key] : schema.keys())
    env_to_key[env_name_of(name)] = name;
  for (auto& [var, value] : inputs.env) {
    if (var.rfind("TROUPE_", 0) != 0)
      continue;
    auto i = env_to_key.find(var);
    if (i == env_to_key.end()) {
      result.warnings.push_back("ignoring environment variable " + var
                                + ": it names no config key");
      continue;
    }
    if (!apply(schema, cfg, i->second, value, config_source::env, var, result.error))
      return result;
  }

  std::map<std::string, std::string> flag_to_key;
  for (auto& [name, key] : schema.keys())
    flag_to_key[flag_name_of(name)] = name;
  for (auto& [flag, value] : inputs.flags) {
    auto i = flag_to_key.find(flag);
    if (i == flag_to_key.end()) {
      result.error = "unknown flag " + flag;
      return result;
    }
    if (!apply(schema, cfg, i->second, value, config_source::flag, flag, result.error))
      return result;
  }
  result.value = std::move(cfg);
  return result;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos)
      out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

} // namespace troupe::rt
