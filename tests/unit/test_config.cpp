#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "troupe/rt/config.hpp"
#include "troupe/rt/host.hpp"

using namespace troupe::rt;

namespace {

config_schema test_schema() {
  config_schema s;
  declare_host_config(s);
  s.add_uint("kv.latency_ms", 0, 0, 60000, "simulated storage latency");
  s.add_choice("kv.backend", "sqlite", {"sqlite", "memory", "postgres"}, "storage");
  return s;
}

std::string temp_yaml(const std::string& text) {
  char name[] = "/tmp/troupe-config-XXXXXX";
  int fd = mkstemp(name);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

} // namespace

TEST_CASE("key names map to env vars and flags", "[config]") {
  CHECK(env_name_of("kv.latency_ms") == "TROUPE_KV_LATENCY_MS");
  CHECK(flag_name_of("kv.latency_ms") == "--kv-latency-ms");
  CHECK(flag_name_of("server.shutdown_grace_ms") == "--server-shutdown-grace-ms");
}

TEST_CASE("defaults apply when nothing is set", "[config]") {
  auto r = load_config(test_schema(), {});
  REQUIRE(r.value);
  CHECK(r.value->get_string("server.listen") == "127.0.0.1:50051");
  CHECK(r.value->get_uint("server.shutdown_grace_ms") == 10000);
  CHECK(r.value->get_uint("runtime.threads") >= 1);
  CHECK(r.value->entry("kv.latency_ms").source == config_source::default_value);
}

TEST_CASE("flags beat env, env beats file, file beats defaults", "[config]") {
  auto file = temp_yaml("kv:\n  latency_ms: 5\n  backend: memory\nserver:\n  listen: 0.0.0.0:1\n");
  config_inputs in;
  in.file = file;
  in.env = {{"TROUPE_KV_LATENCY_MS", "7"}, {"TROUPE_SERVER_LISTEN", "127.0.0.1:2"}};
  in.flags = {{"--kv-latency-ms", "9"}};
  auto r = load_config(test_schema(), in);
  REQUIRE(r.value);
  auto& c = *r.value;
  CHECK(c.get_uint("kv.latency_ms") == 9);
  CHECK(c.entry("kv.latency_ms").source == config_source::flag);
  CHECK(c.get_string("server.listen") == "127.0.0.1:2");
  CHECK(c.entry("server.listen").source == config_source::env);
  CHECK(c.entry("server.listen").origin == "TROUPE_SERVER_LISTEN");
  CHECK(c.get_string("kv.backend") == "memory");
  CHECK(c.entry("kv.backend").source == config_source::file);
  CHECK(c.entry("log.level").source == config_source::default_value);

  auto text = c.describe();
  CHECK(text.find("kv.latency_ms = 9") != std::string::npos);
  CHECK(text.find("# flag (--kv-latency-ms)") != std::string::npos);
  CHECK(text.find("# file (" + file + ")") != std::string::npos);
  std::remove(file.c_str());
}

TEST_CASE("bad values name the key and the source", "[config]") {
  SECTION("flag") {
    config_inputs in;
    in.flags = {{"--kv-latency-ms", "soon"}};
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("kv.latency_ms") != std::string::npos);
    CHECK(r.error.find("--kv-latency-ms") != std::string::npos);
    CHECK(r.error.find("soon") != std::string::npos);
  }
  SECTION("env") {
    config_inputs in;
    in.env = {{"TROUPE_LOG_FORMAT", "xml"}};
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("log.format") != std::string::npos);
    CHECK(r.error.find("TROUPE_LOG_FORMAT") != std::string::npos);
    CHECK(r.error.find("text json") != std::string::npos);
  }
  SECTION("file") {
    auto file = temp_yaml("server:\n  listen: nowhere\n");
    config_inputs in;
    in.file = file;
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("server.listen") != std::string::npos);
    CHECK(r.error.find(file) != std::string::npos);
    std::remove(file.c_str());
  }
  SECTION("out of range") {
    config_inputs in;
    in.flags = {{"--runtime-threads", "0"}};
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("runtime.threads") != std::string::npos);
    CHECK(r.error.find("from 1 to 256") != std::string::npos);
  }
  SECTION("port out of range") {
    config_inputs in;
    in.flags = {{"--server-listen", "127.0.0.1:70000"}};
    REQUIRE_FALSE(load_config(test_schema(), in).value);
  }
}

TEST_CASE("unknown keys fail start-up, unknown env vars only warn", "[config]") {
  SECTION("file") {
    auto file = temp_yaml("kv:\n  latency: 5\n");
    config_inputs in;
    in.file = file;
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("unknown config key 'kv.latency'") != std::string::npos);
    std::remove(file.c_str());
  }
  SECTION("flag") {
    config_inputs in;
    in.flags = {{"--kv-latncy-ms", "5"}};
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("--kv-latncy-ms") != std::string::npos);
  }
  SECTION("env") {
    config_inputs in;
    in.env = {{"TROUPE_SERVICE_HOST", "10.0.0.1"}, {"PATH", "/bin"}};
    auto r = load_config(test_schema(), in);
    REQUIRE(r.value);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("TROUPE_SERVICE_HOST") != std::string::npos);
  }
  SECTION("malformed yaml") {
    auto file = temp_yaml("kv: [1, 2\n");
    config_inputs in;
    in.file = file;
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find(file) != std::string::npos);
    std::remove(file.c_str());
  }
  SECTION("missing file") {
    config_inputs in;
    in.file = "/nonexistent/troupe.yaml";
    auto r = load_config(test_schema(), in);
    REQUIRE_FALSE(r.value);
    CHECK(r.error.find("/nonexistent/troupe.yaml") != std::string::npos);
  }
}

TEST_CASE("booleans accept the usual spellings", "[config]") {
  config_schema s;
  s.add_bool("x.on", false, "");
  config_inputs in;
  in.env = {{"TROUPE_X_ON", "YES"}};
  auto r = load_config(s, in);
  REQUIRE(r.value);
  CHECK(r.value->get_bool("x.on"));
  in.env = {{"TROUPE_X_ON", "maybe"}};
  CHECK_FALSE(load_config(s, in).value);
}

TEST_CASE("passwords in connection strings never reach logs or print-config", "[config]") {
  config_schema s;
  s.add_string("kv.dsn", "", "");
  config_inputs in;
  in.env = {{"TROUPE_KV_DSN", "host=db password=s3cret user=troupe"}};
  auto r = load_config(s, in);
  REQUIRE(r.value);
  CHECK(r.value->get_string("kv.dsn") == "host=db password=s3cret user=troupe");
  CHECK(r.value->summary().find("s3cret") == std::string::npos);
  CHECK(r.value->describe().find("s3cret") == std::string::npos);
  CHECK(r.value->summary().find("password=*** user=troupe") != std::string::npos);
  in.env = {{"TROUPE_KV_DSN", "postgresql://troupe:s3cret@db:5432/troupe"}};
  auto u = load_config(s, in);
  REQUIRE(u.value);
  CHECK(u.value->summary().find("s3cret") == std::string::npos);
  CHECK(u.value->summary().find("postgresql://troupe:***@db:5432/troupe") != std::string::npos);
}
