#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <memory>

#include "kv/storage/scan_bounds.hpp"
#include "kv/storage/storage.hpp"

namespace troupe::kv {
namespace {

// Type OIDs from pg_type.dat; stable across server versions.
constexpr Oid bytea_oid = 17;
constexpr Oid int8_oid = 20;

// Serialises schema creation across replicas that start together: a plain
// CREATE TABLE IF NOT EXISTS can still collide on the table's row type
// (unique violation in pg_type) when two sessions create it at once.
constexpr const char* schema_sql =
    "SELECT pg_advisory_xact_lock(7310411553907148404);"
    "CREATE TABLE IF NOT EXISTS kv ("
    " key bytea PRIMARY KEY,"
    " value bytea NOT NULL,"
    " version bigint NOT NULL,"
    " hash bigint NOT NULL)";

// bytea compares bytewise (memcmp, then length) whatever the database
// collation, which is the order scan promises.
constexpr const char* scan_filter_sql =
    " AND (hash % $3 + $3 + CASE WHEN hash < 0 THEN $4 ELSE 0 END) % $3 = $5"
    " ORDER BY key LIMIT $6";

struct statement_def {
  const char* name;
  std::string sql;
  std::vector<Oid> types;
};

std::vector<statement_def> statement_defs() {
  const std::string scan_head = "SELECT key, value, version FROM kv WHERE key >= $1";
  const std::vector<Oid> scan_types = {bytea_oid, bytea_oid, int8_oid,
                                       int8_oid,  int8_oid,  int8_oid};
  return {
      {"kv_get", "SELECT value, version FROM kv WHERE key = $1", {bytea_oid}},
      {"kv_version", "SELECT version FROM kv WHERE key = $1", {bytea_oid}},
      {"kv_upsert",
       "INSERT INTO kv (key, value, version, hash) VALUES ($1, $2, 1, $3)"
       " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = kv.version + 1"
       " RETURNING version",
       {bytea_oid, bytea_oid, int8_oid}},
      // A concurrent insert of the same key makes this wait for that
      // transaction and then do nothing, so exactly one creator wins.
      {"kv_create",
       "INSERT INTO kv (key, value, version, hash) VALUES ($1, $2, 1, $3)"
       " ON CONFLICT (key) DO NOTHING RETURNING version",
       {bytea_oid, bytea_oid, int8_oid}},
      // Under READ COMMITTED a concurrent updater waits for the row lock and
      // then re-checks the WHERE clause against the new row, so exactly one
      // writer per version wins.
      {"kv_update_if",
       "UPDATE kv SET value = $2, version = version + 1 WHERE key = $1 AND version = $3"
       " RETURNING version",
       {bytea_oid, bytea_oid, int8_oid}},
      {"kv_erase", "DELETE FROM kv WHERE key = $1", {bytea_oid}},
      {"kv_scan_bounded", scan_head + " AND key < $2" + scan_filter_sql, scan_types},
      {"kv_scan_open", scan_head + scan_filter_sql, scan_types},
  };
}

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// Parameters of one prepared call, all sent in binary.
class params {
 public:
  params& bytes(const std::string& s) {
    if (s.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw storage_error(storage_error::kind::internal,
                          "kv postgres: parameter of " + std::to_string(s.size()) +
                              " bytes exceeds the protocol limit");
    return add(s.data(), static_cast<int>(s.size()));
  }

  params& int8(std::int64_t v) {
    auto u = static_cast<std::uint64_t>(v);
    auto& buf = ints_[count_];
    for (int i = 7; i >= 0; --i) {
      buf[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    return add(buf.data(), 8);
  }

  int count() const { return static_cast<int>(count_); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  static constexpr std::size_t max_params = 8;

  params& add(const char* data, int length) {
    values_[count_] = data;
    lengths_[count_] = length;
    formats_[count_] = 1;
    ++count_;
    return *this;
  }

  std::size_t count_ = 0;
  std::array<const char*, max_params> values_{};
  std::array<int, max_params> lengths_{};
  std::array<int, max_params> formats_{};
  std::array<std::array<char, 8>, max_params> ints_{};
};

std::string field_bytes(const PGresult* r, int row, int column) {
  const char* data = PQgetvalue(r, row, column);
  const int size = PQgetlength(r, row, column);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::uint64_t field_int8(const PGresult* r, int row, int column) {
  const auto* data = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, column));
  if (PQgetlength(r, row, column) != 8)
    throw storage_error(storage_error::kind::internal, "kv postgres: bigint field is not 8 bytes");
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | data[i];
  return v;
}

// SQLSTATEs that say "not now" rather than "never": the connection or the
// server went away, the server is starting or stopping, or it is out of
// connection slots or resources.
bool transient_sqlstate(const char* state) {
  if (!state) return false;
  const std::string s(state);
  return s.rfind("08", 0) == 0 || s.rfind("53", 0) == 0 || s == "57P01" || s == "57P02" ||
         s == "57P03";
}

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class postgres_storage final : public storage {
 public:
  postgres_storage(std::string dsn, shard_slot slot)
      : dsn_(std::move(dsn)), filter_(detail::make_shard_filter(slot)) {
    connect();
  }

  ~postgres_storage() override { disconnect(); }

  postgres_storage(const postgres_storage&) = delete;
  postgres_storage& operator=(const postgres_storage&) = delete;

  std::optional<record> get(const std::string& key) override {
    const auto r = run("kv_get", params().bytes(key), "get");
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return record{key, field_bytes(r.get(), 0, 0), field_int8(r.get(), 0, 1)};
  }

  put_result put(const std::string& key, const std::string& value,
                 std::optional<std::uint64_t> if_version) override {
    const std::int64_t hash = detail::stored_key_hash(key);
    if (!if_version) {
      const auto r = run("kv_upsert", params().bytes(key).bytes(value).int8(hash), "put");
      return {true, returned_version(r.get())};
    }
    // The conditional write is one statement; only a failed attempt needs a
    // second one to learn the current version. If that read finds the
    // expected version after all (the row was erased and re-created in
    // between), the condition holds now, so try again rather than report a
    // mismatch that names the expected version.
    for (int attempt = 0; attempt < max_cas_attempts; ++attempt) {
      const auto r =
          *if_version == 0
              ? run("kv_create", params().bytes(key).bytes(value).int8(hash), "put")
              : run("kv_update_if",
                    params().bytes(key).bytes(value).int8(static_cast<std::int64_t>(*if_version)),
                    "put");
      if (PQntuples(r.get()) == 1) return {true, field_int8(r.get(), 0, 0)};
      const auto current_r = run("kv_version", params().bytes(key), "put");
      const std::uint64_t current =
          PQntuples(current_r.get()) == 0 ? 0 : field_int8(current_r.get(), 0, 0);
      if (current != *if_version) return {false, current};
    }
    throw storage_error(storage_error::kind::unavailable,
                        "kv postgres: conditional put kept racing with erase/re-create");
  }

  bool erase(const std::string& key) override {
    const auto r = run("kv_erase", params().bytes(key), "erase");
    return std::strcmp(PQcmdTuples(r.get()), "0") != 0;
  }

  std::vector<record> scan(const std::string& prefix, const std::string& start_after,
                           std::size_t limit) override {
    std::vector<record> out;
    const auto range = detail::scan_range(prefix, start_after);
    if (range.empty || limit == 0) return out;
    const auto max_rows = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    params p;
    p.bytes(range.lower);
    // The open-ended statement ignores $2, but it is declared, so send one.
    p.bytes(range.upper ? *range.upper : range.lower);
    p.int8(filter_.count).int8(filter_.wrap).int8(filter_.index);
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(limit, max_rows)));
    const auto r = run(range.upper ? "kv_scan_bounded" : "kv_scan_open", p, "scan");
    const int rows = PQntuples(r.get());
    out.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i)
      out.push_back(record{field_bytes(r.get(), i, 0), field_bytes(r.get(), i, 1),
                           field_int8(r.get(), i, 2)});
    return out;
  }

 private:
  static constexpr int max_cas_attempts = 100;

  static std::uint64_t returned_version(const PGresult* r) {
    if (PQntuples(r) != 1)
      throw storage_error(storage_error::kind::internal, "kv postgres: put returned no version");
    return field_int8(r, 0, 0);
  }

  void connect() {
    disconnect();
    // Defaults first so that the DSN, expanded in place of dbname, overrides
    // them. Keepalives notice a silently dead server within ~25 s instead of
    // the kernel's two hours.
    const char* keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "application_name", "dbname", nullptr};
    const char* values[] = {"5", "10", "5", "3", "troupe-kv", dsn_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      const std::string message =
          conn_ ? trimmed(PQerrorMessage(conn_)) : std::string("out of memory");
      disconnect();
      throw storage_error(storage_error::kind::unavailable,
                          "kv postgres: cannot connect: " + message);
    }
    doomed_ = false;
    PQsetNoticeReceiver(conn_, &postgres_storage::on_notice, this);
    try {
      if (!schema_ready_) {
        create_schema();
        schema_ready_ = true;
      }
      for (const auto& def : statement_defs()) {
        result_ptr r(PQprepare(conn_, def.name, def.sql.c_str(),
                               static_cast<int>(def.types.size()), def.types.data()));
        check(r, "prepare");
      }
    } catch (...) {
      disconnect();
      throw;
    }
  }

  void create_schema() {
    // CREATE TABLE IF NOT EXISTS still needs CREATE on the schema, which a
    // deployment may grant only to whoever made the table; so look first.
    {
      result_ptr r(PQexec(conn_, "SELECT to_regclass('kv') IS NOT NULL"));
      check(r, "look up schema");
      if (PQntuples(r.get()) == 1 && std::strcmp(PQgetvalue(r.get(), 0, 0), "t") == 0) return;
    }
    // Several statements in one simple query run as one implicit
    // transaction, which holds the advisory lock until the table is
    // committed.
    result_ptr r(PQexec(conn_, schema_sql));
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    // Should another writer of this schema create it without the lock, the
    // loser sees duplicate_table or a unique violation on the catalog.
    if (state && (std::strcmp(state, "42P07") == 0 || std::strcmp(state, "23505") == 0)) return;
    check(r, "create schema");
  }

  void disconnect() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  // Notices are not for stderr (CREATE TABLE IF NOT EXISTS sends "already
  // exists, skipping"), but one kind matters: a server that ends an idle
  // session (shutdown, restart, pg_terminate_backend) first sends a FATAL
  // error, which libpq hands to the notice receiver because no query is
  // running.
  static void on_notice(void* self, const PGresult* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0))
      static_cast<postgres_storage*>(self)->doomed_ = true;
  }

  // Reads whatever arrived while the connection was idle, so that a session
  // the server has already ended is replaced before the next call is sent on
  // it, rather than failing that call.
  bool connection_usable() {
    if (!conn_ || doomed_ || PQstatus(conn_) != CONNECTION_OK) return false;
    pollfd pfd{PQsocket(conn_), POLLIN, 0};
    if (pfd.fd < 0) return false;
    const int ready = poll(&pfd, 1, 0);
    if (ready <= 0) return true;  // nothing pending (or EINTR: let the call find out)
    if (pfd.revents & (POLLERR | POLLNVAL)) return false;
    if (!PQconsumeInput(conn_)) return false;
    // PQconsumeInput only buffers; parsing (and so the notice receiver) runs
    // in PQisBusy.
    PQisBusy(conn_);
    return !doomed_ && PQstatus(conn_) == CONNECTION_OK;
  }

  result_ptr run(const char* statement, const params& p, const char* what) {
    if (!connection_usable()) connect();
    result_ptr r(PQexecPrepared(conn_, statement, p.count(), p.values(), p.lengths(),
                                p.formats(), 1));
    check(r, what);
    return r;
  }

  // DML with RETURNING reports TUPLES_OK, plain DML and utility statements
  // COMMAND_OK; either is success.
  void check(const result_ptr& r, const char* what) {
    if (r) {
      const auto status = PQresultStatus(r.get());
      if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return;
    }
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    const bool lost = !conn_ || PQstatus(conn_) != CONNECTION_OK;
    std::string message = "kv postgres: " + std::string(what) + ": ";
    message += r ? trimmed(PQresultErrorMessage(r.get())) : std::string();
    if (message.back() == ' ' && conn_) message += trimmed(PQerrorMessage(conn_));
    if (state) message += std::string(" (SQLSTATE ") + state + ")";
    const bool transient = lost || transient_sqlstate(state);
    // The server ends the session after these, so start afresh next time.
    if (lost || (state && std::strncmp(state, "57P0", 4) == 0)) disconnect();
    throw storage_error(
        transient ? storage_error::kind::unavailable : storage_error::kind::internal, message);
  }

  std::string dsn_;
  detail::shard_filter filter_;
  PGconn* conn_ = nullptr;
  bool schema_ready_ = false;
  // The server announced the end of this session.
  bool doomed_ = false;
};

}  // namespace

std::unique_ptr<storage> open_postgres_storage(const std::string& dsn, shard_slot slot) {
  detail::check_slot(slot);
  return std::make_unique<postgres_storage>(dsn, slot);
}

}  // namespace troupe::kv
