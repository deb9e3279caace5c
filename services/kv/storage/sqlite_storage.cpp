#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <system_error>
#include <thread>

#include "kv/storage/scan_bounds.hpp"
#include "kv/storage/storage.hpp"

namespace troupe::kv {
namespace {

using clock_type = std::chrono::steady_clock;

// Every shard writes to the same file, so a writer regularly finds the lock
// taken for the length of one commit (an fsync). Waiting that long is normal;
// only a lock held for this long means something is wrong.
constexpr std::chrono::milliseconds lock_wait_limit{10000};

// WITHOUT ROWID keeps rows clustered by key, so a scan is one B-tree range
// walk rather than an index walk plus a lookup per row. BLOB keys compare with
// memcmp, which is the order scan promises.
constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS kv ("
    " key BLOB NOT NULL PRIMARY KEY,"
    " value BLOB NOT NULL,"
    " version INTEGER NOT NULL,"
    " hash INTEGER NOT NULL"
    ") WITHOUT ROWID";

constexpr const char* shard_filter_sql =
    " AND (hash % ?3 + ?3 + CASE WHEN hash < 0 THEN ?4 ELSE 0 END) % ?3 = ?5";

storage_error::kind kind_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
      return storage_error::kind::unavailable;
    default:
      return storage_error::kind::internal;
  }
}

class sqlite_storage final : public storage {
 public:
  sqlite_storage(const std::string& path, shard_slot slot)
      : filter_(detail::make_shard_filter(slot)) {
    create_parent_directories(path);
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      close();
      throw storage_error(kind_of(rc),
                          "kv sqlite: cannot open " + path + ": " + message);
    }
    try {
      sqlite3_extended_result_codes(db_, 1);
      sqlite3_busy_handler(db_, &sqlite_storage::on_busy, this);
      enable_wal();
      exec("PRAGMA synchronous=FULL", "set synchronous=FULL");
      exec(schema_sql, "create schema");
      prepare_statements();
    } catch (...) {
      close();
      throw;
    }
  }

  ~sqlite_storage() override { close(); }

  sqlite_storage(const sqlite_storage&) = delete;
  sqlite_storage& operator=(const sqlite_storage&) = delete;

  std::optional<record> get(const std::string& key) override {
    statement_use use(get_);
    bind_bytes(get_, 1, key);
    if (!step(get_, "get")) return std::nullopt;
    return record{key, column_bytes(get_, 0), column_version(get_, 1)};
  }

  put_result put(const std::string& key, const std::string& value,
                 std::optional<std::uint64_t> if_version) override {
    const std::int64_t hash = detail::stored_key_hash(key);
    if (!if_version) {
      // One autocommit statement: atomic on its own, no transaction needed.
      statement_use use(upsert_);
      bind_bytes(upsert_, 1, key);
      bind_bytes(upsert_, 2, value);
      bind_int(upsert_, 3, hash);
      if (!step(upsert_, "put")) fail(SQLITE_INTERNAL, "put returned no version");
      const std::uint64_t version = column_version(upsert_, 0);
      finish(upsert_, "put");
      return {true, version};
    }

    // IMMEDIATE takes the write lock before reading, so the version check and
    // the write see the same row, and the busy handler does the waiting (a
    // deferred transaction could instead fail to upgrade with BUSY_SNAPSHOT).
    transaction tx(*this);
    std::uint64_t current = 0;
    {
      statement_use use(version_of_);
      bind_bytes(version_of_, 1, key);
      if (step(version_of_, "read version")) current = column_version(version_of_, 0);
    }
    if (current != *if_version) {
      tx.commit();
      return {false, current};
    }
    if (current == 0) {
      statement_use use(insert_);
      bind_bytes(insert_, 1, key);
      bind_bytes(insert_, 2, value);
      bind_int(insert_, 3, hash);
      finish(insert_, "put");
    } else {
      statement_use use(update_);
      bind_bytes(update_, 1, key);
      bind_bytes(update_, 2, value);
      bind_int(update_, 3, static_cast<std::int64_t>(current + 1));
      finish(update_, "put");
    }
    tx.commit();
    return {true, current + 1};
  }

  bool erase(const std::string& key) override {
    statement_use use(erase_);
    bind_bytes(erase_, 1, key);
    finish(erase_, "erase");
    return sqlite3_changes(db_) > 0;
  }

  std::vector<record> scan(const std::string& prefix, const std::string& start_after,
                           std::size_t limit) override {
    std::vector<record> out;
    const auto range = detail::scan_range(prefix, start_after);
    if (range.empty || limit == 0) return out;
    sqlite3_stmt* stmt = range.upper ? scan_bounded_ : scan_open_;
    statement_use use(stmt);
    bind_bytes(stmt, 1, range.lower);
    if (range.upper) bind_bytes(stmt, 2, *range.upper);
    bind_int(stmt, 3, filter_.count);
    bind_int(stmt, 4, filter_.wrap);
    bind_int(stmt, 5, filter_.index);
    const auto max_rows = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    bind_int(stmt, 6, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, max_rows)));
    while (step(stmt, "scan"))
      out.push_back(record{column_bytes(stmt, 0), column_bytes(stmt, 1), column_version(stmt, 2)});
    return out;
  }

 private:
  // Resets a cached statement whatever happens, so that no statement keeps a
  // read transaction open (which would pin the WAL and block checkpoints),
  // and drops the bindings that point into the caller's strings.
  class statement_use {
   public:
    explicit statement_use(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~statement_use() {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
    statement_use(const statement_use&) = delete;
    statement_use& operator=(const statement_use&) = delete;

   private:
    sqlite3_stmt* stmt_;
  };

  class transaction {
   public:
    explicit transaction(sqlite_storage& owner) : owner_(owner) {
      owner_.run(owner_.begin_, "begin transaction");
    }
    ~transaction() {
      if (!done_ && !sqlite3_get_autocommit(owner_.db_)) {
        sqlite3_reset(owner_.rollback_);
        sqlite3_step(owner_.rollback_);
        sqlite3_reset(owner_.rollback_);
      }
    }
    void commit() {
      owner_.run(owner_.commit_, "commit");
      done_ = true;
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

   private:
    sqlite_storage& owner_;
    bool done_ = false;
  };

  static void create_parent_directories(const std::string& path) {
    if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0) return;
    const auto parent = std::filesystem::path(path).parent_path();
    if (parent.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw storage_error(storage_error::kind::unavailable,
                          "kv sqlite: cannot create directory " + parent.string() +
                              ": " + ec.message());
  }

  // Short sleeps first: the usual holder is another shard inside one commit,
  // which takes a few milliseconds. SQLite's built-in busy_timeout sleeps in
  // much coarser steps and would make contended writers idle for tens of ms.
  static int on_busy(void* self_ptr, int attempt) {
    auto* self = static_cast<sqlite_storage*>(self_ptr);
    const auto now = clock_type::now();
    if (attempt == 0) self->busy_since_ = now;
    if (now - self->busy_since_ >= lock_wait_limit) return 0;
    using std::chrono::microseconds;
    static constexpr microseconds steps[] = {microseconds{50},  microseconds{100},
                                             microseconds{200}, microseconds{500},
                                             microseconds{1000}};
    constexpr int step_count = sizeof steps / sizeof steps[0];
    std::this_thread::sleep_for(attempt < step_count ? steps[attempt] : microseconds{2000});
    return 1;
  }

  // Switching an existing database to WAL needs an exclusive lock, and that
  // path can report BUSY without consulting the busy handler when several
  // shards open the same new file at once; so retry here.
  void enable_wal() {
    const auto deadline = clock_type::now() + lock_wait_limit;
    for (;;) {
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr);
      std::string mode;
      if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
          const auto* text = sqlite3_column_text(stmt, 0);
          mode = text ? reinterpret_cast<const char*>(text) : "";
          rc = SQLITE_OK;
        }
      }
      sqlite3_finalize(stmt);
      if (rc == SQLITE_OK) {
        if (mode != "wal")
          throw storage_error(storage_error::kind::internal,
                              "kv sqlite: journal_mode stays '" + mode + "', WAL needed");
        return;
      }
      if ((rc & 0xff) != SQLITE_BUSY || clock_type::now() >= deadline)
        fail(rc, "enable WAL");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void exec(const char* sql, const char* what) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(rc, what);
  }

  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, "prepare");
    statements_.push_back(stmt);
    return stmt;
  }

  void prepare_statements() {
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
    rollback_ = prepare("ROLLBACK");
    get_ = prepare("SELECT value, version FROM kv WHERE key = ?1");
    version_of_ = prepare("SELECT version FROM kv WHERE key = ?1");
    upsert_ = prepare(
        "INSERT INTO kv(key, value, version, hash) VALUES (?1, ?2, 1, ?3)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = kv.version + 1"
        " RETURNING version");
    insert_ = prepare("INSERT INTO kv(key, value, version, hash) VALUES (?1, ?2, 1, ?3)");
    update_ = prepare("UPDATE kv SET value = ?2, version = ?3 WHERE key = ?1");
    erase_ = prepare("DELETE FROM kv WHERE key = ?1");
    const std::string scan_head = "SELECT key, value, version FROM kv WHERE key >= ?1";
    const std::string scan_tail = std::string(shard_filter_sql) + " ORDER BY key LIMIT ?6";
    scan_bounded_ = prepare(scan_head + " AND key < ?2" + scan_tail);
    scan_open_ = prepare(scan_head + scan_tail);
  }

  void close() {
    for (auto* stmt : statements_) sqlite3_finalize(stmt);
    statements_.clear();
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  [[noreturn]] void fail(int rc, const std::string& what) const {
    std::string message = "kv sqlite: " + what + ": ";
    message += db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    message += " (code " + std::to_string(rc) + ")";
    throw storage_error(kind_of(rc), message);
  }

  void bind_bytes(sqlite3_stmt* stmt, int index, const std::string& bytes) {
    // data() is never null, so an empty string binds an empty BLOB, not NULL.
    const int rc = sqlite3_bind_blob64(stmt, index, bytes.data(), bytes.size(), SQLITE_STATIC);
    if (rc != SQLITE_OK) fail(rc, "bind");
  }

  void bind_int(sqlite3_stmt* stmt, int index, std::int64_t value) {
    const int rc = sqlite3_bind_int64(stmt, index, value);
    if (rc != SQLITE_OK) fail(rc, "bind");
  }

  static std::string column_bytes(sqlite3_stmt* stmt, int column) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, column));
    const int size = sqlite3_column_bytes(stmt, column);
    return data && size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
  }

  static std::uint64_t column_version(sqlite3_stmt* stmt, int column) {
    return static_cast<std::uint64_t>(sqlite3_column_int64(stmt, column));
  }

  // True while rows come; false once the statement is done.
  bool step(sqlite3_stmt* stmt, const char* what) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(rc, what);
  }

  // Runs the statement to completion: a write (and RETURNING) is only
  // complete, and an autocommit statement only committed, at SQLITE_DONE.
  void finish(sqlite3_stmt* stmt, const char* what) {
    while (step(stmt, what)) {
    }
  }

  void run(sqlite3_stmt* stmt, const char* what) {
    statement_use use(stmt);
    finish(stmt, what);
  }

  sqlite3* db_ = nullptr;
  detail::shard_filter filter_;
  clock_type::time_point busy_since_{};
  std::vector<sqlite3_stmt*> statements_;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* version_of_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* erase_ = nullptr;
  sqlite3_stmt* scan_bounded_ = nullptr;
  sqlite3_stmt* scan_open_ = nullptr;
};

}  // namespace

std::unique_ptr<storage> open_sqlite_storage(const std::string& path, shard_slot slot) {
  detail::check_slot(slot);
  return std::make_unique<sqlite_storage>(path, slot);
}

}  // namespace troupe::kv
