// One behaviour suite for every kv storage backend. PostgreSQL cases run only
// when TROUPE_TEST_PG_DSN names a server (scripts/pg-test-server starts one);
// otherwise they pass with a warning saying they were skipped.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kv/storage/storage.hpp"

namespace {

using namespace troupe::kv;
using namespace std::string_literals;

std::string random_hex() {
  std::random_device rd;
  std::uint64_t v = (std::uint64_t{rd()} << 32) ^ rd();
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i, v >>= 4) s.push_back(digits[v & 0xf]);
  return s;
}

std::vector<std::string> keys_of(const std::vector<record>& records) {
  std::vector<std::string> keys;
  for (const auto& r : records) keys.push_back(r.key);
  return keys;
}

// Each backend fixture gives every test case its own key namespace `ns`, so
// cases may share one database (PostgreSQL under a parallel ctest) without
// seeing each other's keys. Scans in the suite always stay inside `ns`.

struct memory_backend {
  static constexpr bool shared = false;  // each handle has its own map
  bool available() const { return true; }
  std::string skip_reason() const { return {}; }
  std::unique_ptr<storage> open(shard_slot slot = {}) { return open_memory_storage(slot); }
  std::string ns = "ns/";
};

struct sqlite_backend {
  static constexpr bool shared = true;
  sqlite_backend()
      : dir(std::filesystem::temp_directory_path() / ("troupe-kv-test-" + random_hex())) {}
  ~sqlite_backend() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  bool available() const { return true; }
  std::string skip_reason() const { return {}; }
  // A missing parent directory exercises the factory's mkdir -p.
  std::string path() const { return (dir / "nested" / "kv.db").string(); }
  std::unique_ptr<storage> open(shard_slot slot = {}) { return open_sqlite_storage(path(), slot); }
  std::filesystem::path dir;
  std::string ns = "ns/";
};

struct postgres_backend {
  static constexpr bool shared = true;
  postgres_backend() {
    if (const char* env = std::getenv("TROUPE_TEST_PG_DSN")) dsn = env;
  }
  ~postgres_backend() {
    if (dsn.empty()) return;
    try {
      // Leave the shared database as we found it.
      auto handle = open();
      for (;;) {
        const auto page = handle->scan(ns, "", 1000);
        if (page.empty()) break;
        for (const auto& r : page) handle->erase(r.key);
      }
    } catch (...) {
    }
  }
  bool available() const { return !dsn.empty(); }
  std::string skip_reason() const {
    return "TROUPE_TEST_PG_DSN is not set: PostgreSQL case SKIPPED "
           "(start a server with scripts/pg-test-server start DIR)";
  }
  std::unique_ptr<storage> open(shard_slot slot = {}) { return open_postgres_storage(dsn, slot); }
  std::string dsn;
  std::string ns = "t" + random_hex() + "/";
};

#define REQUIRE_BACKEND(b)           \
  do {                               \
    if (!(b).available()) {          \
      WARN((b).skip_reason());       \
      return;                        \
    }                                \
  } while (false)

}  // namespace

TEST_CASE("kv storage: stable_key_hash is a fixed, documented function", "[kv_storage]") {
  // Pinned values: changing any of them changes which shard owns stored keys.
  CHECK(stable_key_hash("") == 0xefd01f60ba992926ULL);
  CHECK(stable_key_hash("a") == 0x82a2a958a9bece5bULL);
  CHECK(stable_key_hash("foo") == 0xaf85ea5569581d4cULL);
  CHECK(stable_key_hash("user:42") == 0x998817bee6718248ULL);
  CHECK(stable_key_hash("\xff\x00\x80"s) == 0x07b5cbebc9388e00ULL);
  CHECK(stable_key_hash("\xc3\xa9") == 0x9d55ccb9ba86763bULL);
  CHECK(shard_of_key("foo", 8) == 0xaf85ea5569581d4cULL % 8);

  // Keys that differ only in high bits of a byte must still spread.
  std::set<std::uint32_t> shards;
  for (char c = 'a'; c <= 'z'; ++c) shards.insert(shard_of_key(std::string(1, c), 8));
  CHECK(shards.size() == 8);
}

TEMPLATE_TEST_CASE("kv storage: impossible shard slots are rejected", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  CHECK_THROWS_AS(b.open({0, 0}), std::invalid_argument);
  CHECK_THROWS_AS(b.open({2, 2}), std::invalid_argument);
}

TEMPLATE_TEST_CASE("kv storage: get of missing and present keys", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  CHECK_FALSE(s->get(b.ns + "missing").has_value());

  const auto r = s->put(b.ns + "k", "hello", std::nullopt);
  CHECK(r.applied);
  CHECK(r.version == 1);
  const auto got = s->get(b.ns + "k");
  REQUIRE(got.has_value());
  CHECK(got->key == b.ns + "k");
  CHECK(got->value == "hello");
  CHECK(got->version == 1);
  CHECK_FALSE(s->get(b.ns + "missing").has_value());
}

TEMPLATE_TEST_CASE("kv storage: versions are 1, 2, 3 and restart at 1 after erase",
                   "[kv_storage]", memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  const std::string key = b.ns + "counter";
  for (std::uint64_t expected = 1; expected <= 3; ++expected) {
    const auto r = s->put(key, "v" + std::to_string(expected), std::nullopt);
    CHECK(r.applied);
    CHECK(r.version == expected);
  }
  CHECK(s->get(key)->version == 3);
  CHECK(s->get(key)->value == "v3");

  REQUIRE(s->erase(key));
  CHECK_FALSE(s->get(key).has_value());
  const auto again = s->put(key, "again", std::nullopt);
  CHECK(again.applied);
  CHECK(again.version == 1);
  CHECK(s->get(key)->value == "again");
}

TEMPLATE_TEST_CASE("kv storage: conditional put only if absent", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  const std::string key = b.ns + "once";

  const auto first = s->put(key, "first", 0);
  CHECK(first.applied);
  CHECK(first.version == 1);

  const auto second = s->put(key, "second", 0);
  CHECK_FALSE(second.applied);
  CHECK(second.version == 1);
  CHECK(s->get(key)->value == "first");

  s->put(key, "bumped", std::nullopt);
  const auto third = s->put(key, "third", 0);
  CHECK_FALSE(third.applied);
  CHECK(third.version == 2);

  s->erase(key);
  const auto recreated = s->put(key, "recreated", 0);
  CHECK(recreated.applied);
  CHECK(recreated.version == 1);
}

TEMPLATE_TEST_CASE("kv storage: conditional put on an exact version", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  const std::string key = b.ns + "cas";

  SECTION("a version on an absent key is a mismatch reporting 0") {
    const auto r = s->put(key, "x", 1);
    CHECK_FALSE(r.applied);
    CHECK(r.version == 0);
    CHECK_FALSE(s->get(key).has_value());
  }

  SECTION("matching versions apply and advance by one") {
    REQUIRE(s->put(key, "v1", std::nullopt).version == 1);
    const auto r2 = s->put(key, "v2", 1);
    CHECK(r2.applied);
    CHECK(r2.version == 2);
    const auto r3 = s->put(key, "v3", 2);
    CHECK(r3.applied);
    CHECK(r3.version == 3);
    CHECK(s->get(key)->value == "v3");
  }

  SECTION("a mismatch leaves the data unchanged and reports the current version") {
    REQUIRE(s->put(key, "v1", std::nullopt).version == 1);
    REQUIRE(s->put(key, "v2", std::nullopt).version == 2);
    for (std::uint64_t stale : {std::uint64_t{1}, std::uint64_t{3}, std::uint64_t{1000}}) {
      const auto r = s->put(key, "lost", stale);
      CHECK_FALSE(r.applied);
      CHECK(r.version == 2);
    }
    const auto got = s->get(key);
    REQUIRE(got.has_value());
    CHECK(got->value == "v2");
    CHECK(got->version == 2);
  }
}

TEMPLATE_TEST_CASE("kv storage: erase reports whether the key existed", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  const std::string key = b.ns + "gone";
  CHECK_FALSE(s->erase(key));
  s->put(key, "x", std::nullopt);
  s->put(b.ns + "kept", "y", std::nullopt);
  CHECK(s->erase(key));
  CHECK_FALSE(s->erase(key));
  CHECK_FALSE(s->get(key).has_value());
  CHECK(s->get(b.ns + "kept").has_value());
}

TEMPLATE_TEST_CASE("kv storage: keys and values are arbitrary bytes", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  const std::string big(1 << 20, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {b.ns + "nul-value", "a\0b\0"s},
      {b.ns + "empty-value", ""},
      {b.ns + "all-bytes", all_bytes},
      {b.ns + "big", big},
      {b.ns + "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "utf-8 key"},
      {b.ns + "nul\0in-key"s, "embedded NUL in key"},
      {b.ns + "\xff\xfe", "high bytes in key"},
      {b.ns, "key equal to the namespace itself"},
  };
  for (const auto& [key, value] : cases) REQUIRE(s->put(key, value, std::nullopt).applied);
  for (const auto& [key, value] : cases) {
    const auto got = s->get(key);
    REQUIRE(got.has_value());
    CHECK(got->key == key);
    CHECK(got->value.size() == value.size());
    CHECK(got->value == value);
  }
  // A key with a NUL must not be confused with its truncation.
  CHECK_FALSE(s->get(b.ns + "nul").has_value());
}

TEMPLATE_TEST_CASE("kv storage: scan by prefix, start_after and limit in byte order",
                   "[kv_storage]", memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  auto s = b.open();
  const std::string& ns = b.ns;
  // Bytewise order, which no locale collation would produce: upper case
  // before lower case, 0x7f before 0x80, "é" (c3 a9) after "z", 0xff last.
  const std::vector<std::string> suffixes = {
      "",        "A",           "Z",    "a",       "a\0"s,     "a\x01", "ab",  "abc",
      "b",       "z",           "\x7f", "\x80",    "\xc3\xa9", "\xc3\xa9z",   "\xff",
      "\xff\x00"s, "\xff\xff",  "\xff\xff\x01"};
  std::vector<std::string> all;
  for (const auto& suffix : suffixes) {
    all.push_back(ns + suffix);
    // Values carry NULs and high bytes to prove they come back intact.
    REQUIRE(s->put(ns + suffix, "v\0\xff"s + suffix, std::nullopt).applied);
  }
  std::sort(all.begin(), all.end());
  // Something just outside the namespace on either side.
  std::string before = ns;
  before.back() = static_cast<char>(before.back() - 1);
  std::string after = ns;
  after.back() = static_cast<char>(after.back() + 1);
  // The namespace cleanup cannot see these, so they go when the case ends.
  struct erase_on_exit {
    storage& s;
    std::vector<std::string> keys;
    ~erase_on_exit() {
      for (const auto& k : keys) try {
          s.erase(k);
        } catch (...) {
        }
    }
  } outside{*s, {before + "x", after}};
  for (const auto& k : outside.keys) s->put(k, "outside", std::nullopt);

  auto with_prefix = [&](const std::string& p) {
    std::vector<std::string> out;
    for (const auto& k : all)
      if (k.compare(0, p.size(), p) == 0) out.push_back(k);
    return out;
  };

  SECTION("the whole prefix, ascending, values intact") {
    const auto got = s->scan(ns, "", 1000);
    CHECK(keys_of(got) == all);
    for (const auto& r : got) {
      CHECK(r.value == "v\0\xff"s + r.key.substr(ns.size()));
      CHECK(r.version == 1);
    }
  }

  SECTION("narrower prefixes, including ones ending in 0xff") {
    for (const std::string& p : {"a"s, "ab"s, "a\0"s, "\xc3"s, "\xff"s, "\xff\xff"s, "q"s}) {
      INFO("prefix suffix of length " << p.size());
      CHECK(keys_of(s->scan(ns + p, "", 1000)) == with_prefix(ns + p));
    }
  }

  SECTION("start_after is exclusive and may lie before, inside or after the prefix") {
    CHECK(keys_of(s->scan(ns, ns + "a", 1000)) ==
          std::vector<std::string>(std::find(all.begin(), all.end(), ns + "a") + 1, all.end()));
    CHECK(keys_of(s->scan(ns, ns + "aa", 1000)) ==
          std::vector<std::string>(std::find(all.begin(), all.end(), ns + "ab"), all.end()));
    CHECK(keys_of(s->scan(ns, before, 1000)) == all);
    CHECK(s->scan(ns, after, 1000).empty());
    CHECK(s->scan(ns, ns + "\xff\xff\x01", 1000).empty());
  }

  SECTION("limit bounds the page, and paging with start_after visits everything once") {
    CHECK(s->scan(ns, "", 0).empty());
    CHECK(keys_of(s->scan(ns, "", 1)) == std::vector<std::string>{all.front()});
    CHECK(keys_of(s->scan(ns, "", 3)) == std::vector<std::string>(all.begin(), all.begin() + 3));
    std::vector<std::string> paged;
    std::string cursor;
    for (;;) {
      const auto page = s->scan(ns, cursor, 4);
      if (page.empty()) break;
      CHECK(page.size() <= 4);
      for (const auto& r : page) paged.push_back(r.key);
      cursor = page.back().key;
    }
    CHECK(paged == all);
  }
}

TEMPLATE_TEST_CASE("kv storage: each shard slot scans only its own keys", "[kv_storage]",
                   memory_backend, sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  std::vector<std::string> all;
  for (int i = 0; i < 200; ++i) all.push_back(b.ns + "key-" + std::to_string(i));
  std::sort(all.begin(), all.end());

  // Non-powers of two matter: half of the stored hashes are negative in a
  // signed SQL column, and the shard must still be the unsigned remainder.
  for (const std::uint32_t count : {2u, 3u, 8u, 7919u}) {
    INFO("shard count " << count);
    std::vector<std::unique_ptr<storage>> handles;
    const std::uint32_t used = std::min<std::uint32_t>(count, 8);
    for (std::uint32_t i = 0; i < used; ++i) handles.push_back(b.open({i, count}));
    if (TestType::shared) {
      if (count == 2) {
        for (const auto& k : all) handles[0]->put(k, "v", std::nullopt);
      }
    } else {
      for (auto& h : handles)
        for (const auto& k : all) h->put(k, "v", std::nullopt);
    }
    std::multiset<std::string> seen;
    for (std::uint32_t i = 0; i < used; ++i) {
      const auto got = handles[i]->scan(b.ns, "", 10000);
      for (const auto& r : got) {
        CHECK(shard_of_key(r.key, count) == i);
        seen.insert(r.key);
      }
      std::size_t expected = 0;
      for (const auto& k : all) expected += shard_of_key(k, count) == i;
      CHECK(got.size() == expected);
      CHECK(std::is_sorted(got.begin(), got.end(),
                           [](const record& x, const record& y) { return x.key < y.key; }));
    }
    if (used == count) {
      // Disjoint (no key twice) and complete (every key once).
      CHECK(std::vector<std::string>(seen.begin(), seen.end()) == all);
    }
  }
}

TEMPLATE_TEST_CASE("kv storage: data survives closing and reopening", "[kv_storage]",
                   sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  {
    auto s = b.open({0, 1});
    s->put(b.ns + "durable", "d1", std::nullopt);
    s->put(b.ns + "durable", "d2", std::nullopt);
    s->put(b.ns + "erased", "e", std::nullopt);
    s->erase(b.ns + "erased");
  }
  // A different shard count on reopen: the stored hashes keep working.
  auto s = b.open({1, 4});
  const auto got = s->get(b.ns + "durable");
  REQUIRE(got.has_value());
  CHECK(got->value == "d2");
  CHECK(got->version == 2);
  CHECK_FALSE(s->get(b.ns + "erased").has_value());
  const auto again = s->put(b.ns + "durable", "d3", 2);
  CHECK(again.applied);
  CHECK(again.version == 3);
}

TEMPLATE_TEST_CASE("kv storage: handles opened at the same moment on a fresh database",
                   "[kv_storage]", sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  constexpr int threads = 8;
  std::vector<std::unique_ptr<storage>> handles(threads);
  std::vector<std::string> errors(threads);
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      try {
        handles[t] = b.open({static_cast<std::uint32_t>(t), threads});
        handles[t]->put(b.ns + "opened-" + std::to_string(t), "x", std::nullopt);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  go = true;
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    INFO("thread " << t);
    CHECK(errors[t].empty());
    CHECK(handles[t] != nullptr);
  }
}

TEMPLATE_TEST_CASE("kv storage: concurrent CAS increments have one winner per version",
                   "[kv_storage]", sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  constexpr int threads = 8;
  constexpr int target = 160;
  const std::string key = b.ns + "race";
  // Every thread owns a handle on the same slot, as shards of several
  // replicas would.
  std::vector<std::unique_ptr<storage>> handles;
  for (int t = 0; t < threads; ++t) handles.push_back(b.open({0, 1}));

  struct outcome {
    std::vector<std::uint64_t> won;
    std::uint64_t attempts = 0;
    std::vector<std::string> problems;
  };
  std::vector<outcome> outcomes(threads);
  std::atomic<int> applied{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto& out = outcomes[t];
      auto& s = *handles[t];
      while (!go.load()) std::this_thread::yield();
      try {
        while (applied.load() < target) {
          const auto current = s.get(key);
          const std::uint64_t seen = current ? current->version : 0;
          const std::string value = std::to_string(t) + ":" + std::to_string(seen + 1);
          const auto r = s.put(key, value, seen);
          ++out.attempts;
          if (r.applied) {
            if (r.version != seen + 1) out.problems.push_back("applied with a skipped version");
            out.won.push_back(r.version);
            applied.fetch_add(1);
          } else if (r.version == seen) {
            out.problems.push_back("mismatch reported the expected version");
          }
        }
      } catch (const std::exception& e) {
        out.problems.push_back(e.what());
      }
    });
  go = true;
  for (auto& th : pool) th.join();

  std::vector<std::uint64_t> won;
  std::uint64_t attempts = 0;
  for (const auto& out : outcomes) {
    for (const auto& p : out.problems) FAIL_CHECK(p);
    won.insert(won.end(), out.won.begin(), out.won.end());
    attempts += out.attempts;
  }
  std::sort(won.begin(), won.end());
  const auto final_record = handles[0]->get(key);
  REQUIRE(final_record.has_value());
  INFO("attempts " << attempts << ", applied " << won.size());
  CHECK(std::adjacent_find(won.begin(), won.end()) == won.end());
  CHECK(won.size() == final_record->version);
  CHECK(won.size() >= static_cast<std::size_t>(target));
  for (std::size_t i = 0; i < won.size(); ++i) CHECK(won[i] == i + 1);
  // The stored value is the one the winner of the last version wrote.
  CHECK(final_record->value.substr(final_record->value.find(':') + 1) ==
        std::to_string(final_record->version));
}

TEMPLATE_TEST_CASE("kv storage: concurrent unconditional puts lose no increment",
                   "[kv_storage]", sqlite_backend, postgres_backend) {
  TestType b;
  REQUIRE_BACKEND(b);
  constexpr int threads = 8;
  constexpr int per_thread = 20;
  const std::string key = b.ns + "blind";
  std::vector<std::unique_ptr<storage>> handles;
  for (int t = 0; t < threads; ++t) handles.push_back(b.open({0, 1}));
  std::vector<std::vector<std::uint64_t>> versions(threads);
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (int i = 0; i < per_thread; ++i)
          versions[t].push_back(handles[t]->put(key, "x", std::nullopt).version);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  for (const auto& e : errors) CHECK(e.empty());
  std::vector<std::uint64_t> all;
  for (const auto& v : versions) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  REQUIRE(all.size() == threads * per_thread);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == i + 1);
  CHECK(handles[0]->get(key)->version == threads * per_thread);
}

TEST_CASE("kv storage: sqlite uses WAL and creates missing directories", "[kv_storage]") {
  sqlite_backend b;
  { auto s = b.open(); s->put("k", "v", std::nullopt); }
  REQUIRE(std::filesystem::exists(b.path()));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(b.path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_CASE("kv storage: sqlite reports an unusable path as a storage_error", "[kv_storage]") {
  sqlite_backend b;
  std::filesystem::create_directories(b.dir);
  // A regular file where a parent directory should be.
  const auto blocker = b.dir / "file";
  { std::ofstream(blocker.string()) << "x"; }
  try {
    open_sqlite_storage((blocker / "kv.db").string(), {});
    FAIL("opening under a regular file succeeded");
  } catch (const storage_error& e) {
    CHECK(e.what_kind == storage_error::kind::unavailable);
  }
}

TEST_CASE("kv storage: postgres that cannot be reached is unavailable", "[kv_storage]") {
  // Port 1 on loopback refuses at once; no server is needed for this case.
  try {
    open_postgres_storage("host=127.0.0.1 port=1 dbname=troupe user=postgres connect_timeout=2",
                          {});
    FAIL("connecting to a closed port succeeded");
  } catch (const storage_error& e) {
    CHECK(e.what_kind == storage_error::kind::unavailable);
  }
}

TEST_CASE("kv storage: postgres reconnects after the server drops the connection",
          "[kv_storage]") {
  postgres_backend b;
  REQUIRE_BACKEND(b);
  // A unique application_name lets this case end exactly its own session,
  // even with other cases running against the same server.
  const std::string app = "troupe-kv-test-" + random_hex();
  auto s = open_postgres_storage(b.dsn + " application_name=" + app, {});
  s->put(b.ns + "before", "1", std::nullopt);

  PGconn* admin = PQconnectdb(b.dsn.c_str());
  REQUIRE(PQstatus(admin) == CONNECTION_OK);
  const std::string kill =
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + app +
      "'";
  PGresult* r = PQexec(admin, kill.c_str());
  CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
  CHECK(PQntuples(r) == 1);
  PQclear(r);
  const std::string alive =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'";
  for (int i = 0; i < 200; ++i) {
    r = PQexec(admin, alive.c_str());
    const std::string count = PQgetvalue(r, 0, 0);
    PQclear(r);
    if (count == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  PQfinish(admin);

  // The handle notices the closed session before sending and reconnects.
  const auto got = s->get(b.ns + "before");
  REQUIRE(got.has_value());
  CHECK(got->value == "1");
  CHECK(s->put(b.ns + "after", "2", 0).applied);
}
