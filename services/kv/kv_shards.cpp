// The shard actors: admission (kv.max_pending), the simulated latency, and
// running each storage call inline or on the blocking pool.

#include "kv/kv_shards.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <deque>
#include <variant>

#include "kv/shard_messages.hpp"
#include "kv/storage/storage.hpp"
#include "troupe/rt/blocking_pool.hpp"
#include "troupe/rt/metrics.hpp"
#include "troupe/rt/select.hpp"
#include "troupe/rt/service.hpp"
#include "troupe/rt/timers.hpp"

namespace troupe::kv {

namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;

/// One storage call waiting for its shard: a call, or a part of one.
using shard_op = std::variant<get_call, put_call, delete_call, multi_get_part, scan_part>;

// The storage handle of one shard. Only the shard's current storage call
// touches it (the shard runs one at a time), on whichever thread runs it.
constexpr const char* op_names[std::variant_size_v<shard_op>] = {"get", "put", "delete",
                                                                 "multi_get", "scan"};

struct storage_slot {
  std::unique_ptr<storage> handle;
  // troupe_kv_storage_duration_seconds, by op (the variant's index).
  std::array<rt::metrics::histogram*, std::variant_size_v<shard_op>> took{};
  std::function<std::unique_ptr<storage>()> open;
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{100};

  // Null while the database is unreachable; reconnects with backoff.
  storage* get() {
    if (handle)
      return handle.get();
    auto now = std::chrono::steady_clock::now();
    if (now < next_attempt)
      return nullptr;
    try {
      handle = open();
      backoff = std::chrono::milliseconds(100);
      spdlog::info("kv storage reconnected");
      return handle.get();
    } catch (const std::exception& e) {
      next_attempt = now + backoff;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      spdlog::warn("kv storage unavailable, retrying in {} ms: {}", backoff.count(), e.what());
      return nullptr;
    }
  }
};

// -- what each kind of op needs -----------------------------------------------

template <class Call>
struct call_op {
  static bool wanted(const Call& c) { return c->open(); }
  static rt::deadline due(const Call& c) { return c->due(); }
  static rt::cancel_token token(Call& c) { return c->token(); }
  static void refuse(Call& c, rt::call_status s) { c->fail(std::move(s)); }
};

bool wanted(const shard_op& op) {
  return std::visit(
    [](const auto& o) -> bool {
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, multi_get_part>)
        return !o.promise.done();
      else if constexpr (std::is_same_v<T, scan_part>)
        return !o.token.cancelled();
      else
        return call_op<T>::wanted(o);
    },
    op);
}

rt::deadline due_of(const shard_op& op) {
  return std::visit(
    [](const auto& o) -> rt::deadline {
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, multi_get_part>)
        return rt::deadline::never(); // the call's token ends the task at its deadline
      else if constexpr (std::is_same_v<T, scan_part>)
        return o.due;
      else
        return call_op<T>::due(o);
    },
    op);
}

rt::cancel_token token_of(shard_op& op) {
  return std::visit(
    [](auto& o) -> rt::cancel_token {
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, multi_get_part>)
        return o.promise.token();
      else if constexpr (std::is_same_v<T, scan_part>)
        return o.token;
      else
        return call_op<T>::token(o);
    },
    op);
}

/// Answers `op` with `status` instead of doing it.
void refuse(shard_op& op, rt::call_status status) {
  std::visit(
    [&](auto& o) {
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, multi_get_part>) {
        rt::task_error err{rt::task_errc::failed, status.message, status};
        o.promise.set_error(std::move(err));
      } else if constexpr (std::is_same_v<T, scan_part>) {
        caf::anon_send(o.merge, std::move(status));
      } else {
        call_op<T>::refuse(o, std::move(status));
      }
    },
    op);
}

// -- doing it -------------------------------------------------------------------

void run(get_call& c, storage& s) {
  auto r = s.get(c->request().key());
  c->reply([&](v1::GetResponse& resp) {
    if (r) {
      resp.set_found(true);
      resp.set_value(std::move(r->value));
      resp.set_version(r->version);
    }
  });
}

void run(put_call& c, storage& s) {
  const auto& req = c->request();
  std::optional<std::uint64_t> if_version;
  if (req.has_if_version())
    if_version = req.if_version();
  auto r = s.put(req.key(), req.value(), if_version);
  if (!r.applied) {
    c->fail(rt::call_status::of(
      rt::status_code::aborted,
      "if_version: expected " + std::to_string(*if_version) + ", current version is "
        + std::to_string(r.version) + (r.version == 0 ? " (key absent)" : "")));
    return;
  }
  c->reply([&](v1::PutResponse& resp) { resp.set_version(r.version); });
}

void run(delete_call& c, storage& s) {
  auto existed = s.erase(c->request().key());
  c->reply([&](v1::DeleteResponse& resp) { resp.set_existed(existed); });
}

void run(multi_get_part& p, storage& s) {
  std::vector<v1::Entry> entries(p.indexes.size());
  for (std::size_t i = 0; i < p.indexes.size(); ++i) {
    const auto& key = p.request->keys(static_cast<int>(p.indexes[i]));
    auto& e = entries[i];
    e.set_key(key);
    if (auto r = s.get(key)) {
      e.set_found(true);
      e.set_value(std::move(r->value));
      e.set_version(r->version);
    }
  }
  p.promise.set_value(std::move(entries));
}

void run(scan_part& p, storage& s) {
  scan_batch b;
  b.shard = p.shard;
  b.records = s.scan(p.prefix, p.cursor, p.limit);
  b.exhausted = b.records.size() < p.limit;
  caf::anon_send(p.merge, std::move(b));
}

/// Runs `op` against the slot and answers it.
void execute(storage_slot& slot, shard_op& op) {
  struct timed {
    rt::metrics::histogram* into;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~timed() {
      into->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                      .count());
    }
  } timing{slot.took[op.index()]};
  auto* s = slot.get();
  if (s == nullptr) {
    refuse(op, rt::call_status::of(rt::status_code::unavailable, "storage is unavailable"));
    return;
  }
  try {
    std::visit([&](auto& o) { run(o, *s); }, op);
  } catch (const storage_error& e) {
    if (e.what_kind == storage_error::kind::unavailable) {
      slot.handle.reset(); // reconnect on a later call
      refuse(op, rt::call_status::of(rt::status_code::unavailable, e.what()));
    } else {
      refuse(op, rt::call_status::of(rt::status_code::internal, e.what()));
    }
  } catch (const std::exception& e) {
    refuse(op, rt::call_status::of(rt::status_code::internal, e.what()));
  }
}

// -- the shard actor ----------------------------------------------------------

struct shard_state {
  std::uint32_t index = 0;
  std::shared_ptr<storage_slot> slot;
  rt::blocking_pool* pool = nullptr; // null: storage never blocks (memory)
  std::chrono::milliseconds latency{0};
  std::chrono::milliseconds storage_timeout{0};
  std::uint32_t max_pending = 0;
  // Ops admitted and not yet answered: queued, waiting out the latency, or
  // running. kv.max_pending bounds it.
  std::uint32_t pending = 0;
  std::deque<shard_op> queue;
  // Ops waiting out the simulated latency, in arrival order. The latency is
  // the same for all, so they become ready in this order too and one timer,
  // armed for the oldest, serves them all in batches.
  std::deque<std::pair<rt::timer_point, shard_op>> delayed;
  // kv.storage_concurrency: ops the simulated storage serves at once (0:
  // unlimited, a pure delay); the others wait their turn here, as behind a
  // database's connections.
  std::uint32_t concurrency = 0;
  std::deque<shard_op> waiting;
  rt::timer_handle timer;
  bool busy = false;

  ~shard_state() {
    auto gone = rt::call_status::from_cancel(rt::cancel_reason::shutting_down);
    for (auto& op : queue)
      refuse(op, gone);
    for (auto& entry : delayed)
      refuse(entry.second, gone);
    for (auto& op : waiting)
      refuse(op, gone);
  }

  static const char* name;
};

const char* shard_state::name = "kv-shard";

using shard_actor_ptr = caf::stateful_actor<shard_state>*;

rt::call_status shed_status(const shard_state& st) {
  // By the time the queue has drained by a useful amount.
  auto pushback = std::max<std::int64_t>(50, st.latency.count());
  return rt::call_status::overloaded("kv shard " + std::to_string(st.index) + " has "
                                       + std::to_string(st.max_pending)
                                       + " calls pending (kv.max_pending)",
                                     std::chrono::milliseconds(pushback),
                                     rt::shed_reason::max_pending);
}

void run_on_pool(shard_actor_ptr self, shard_op op);

void pump(shard_actor_ptr self) {
  auto& st = self->state;
  while (!st.busy && !st.queue.empty()) {
    auto op = std::move(st.queue.front());
    st.queue.pop_front();
    if (!wanted(op)) {
      --st.pending; // its call already ended: nobody waits for this work
      continue;
    }
    if (st.pool == nullptr) {
      execute(*st.slot, op);
      --st.pending;
      continue;
    }
    run_on_pool(self, std::move(op));
  }
}

// A storage call on the blocking pool races its call's deadline, its
// cancellation and kv.storage_timeout_ms: a stuck database answers the
// client in time, and a call that ended is never started. The shard still
// waits for the pool job itself before the next call on its handle.
void run_on_pool(shard_actor_ptr self, shard_op op) {
  auto& st = self->state;
  st.busy = true;
  auto shared = std::make_shared<shard_op>(std::move(op));
  auto limit = rt::deadline::earliest(due_of(*shared), rt::deadline::after(st.storage_timeout));
  auto me = caf::actor_cast<caf::actor>(self);
  auto slot = st.slot;
  auto* pool = st.pool;
  // Whether a pool job exists that will send done_atom: the race may be
  // decided before the work starts, and then the shard frees itself.
  auto submitted = std::make_shared<bool>(false);
  rt::race<bool>(
    self, limit, token_of(*shared),
    [=](rt::cancel_token work, rt::completer<bool> done) {
      rt::blocking_job job;
      job.token = work;
      job.run = [slot, shared, done, me] {
        execute(*slot, *shared);
        done(true);
        caf::anon_send(me, done_atom::value);
      };
      job.skipped = [me](rt::cancel_reason) { caf::anon_send(me, done_atom::value); };
      if (pool->try_submit(std::move(job)) != rt::submit_result::accepted) {
        refuse(*shared, rt::call_status::overloaded(
                          "blocking pool queue is full (runtime.blocking_queue)",
                          std::chrono::milliseconds(100), rt::shed_reason::blocking_queue_full));
        done(false);
        caf::anon_send(me, done_atom::value);
      }
      *submitted = true;
    },
    [=, timeout = st.storage_timeout](rt::outcome<bool>&& o) {
      if (o.has_value())
        return;
      if (o.deadline_exceeded() && !due_of(*shared).expired())
        refuse(*shared, rt::call_status::of(
                          rt::status_code::unavailable,
                          "storage did not answer within " + std::to_string(timeout.count())
                            + " ms (kv.storage_timeout_ms)"));
      else
        refuse(*shared, rt::call_status::from_cancel(o.deadline_exceeded()
                                                       ? rt::cancel_reason::deadline_exceeded
                                                       : o.reason()));
      if (!*submitted) {
        self->state.busy = false;
        --self->state.pending;
        pump(self);
      }
    });
}

void on_tick(shard_actor_ptr self);

// The simulated database latency costs a place in a queue, not a thread and
// not a timer per call: one timer, armed for the oldest, serves them all.
// Without a concurrency limit, ops come due on whole milliseconds of the
// clock (up to 1 ms late), the same instants for every shard: one wake-up of
// the clock serves every shard's batch, where shards on their own instants
// woke it (and an actor thread) once per shard.
void start_latency(shard_actor_ptr self, shard_op op) {
  auto& st = self->state;
  auto due = self->clock().now() + st.latency;
  if (st.concurrency == 0)
    due = rt::timer_point{std::chrono::ceil<std::chrono::milliseconds>(due.time_since_epoch())};
  st.delayed.emplace_back(due, std::move(op));
  if (!st.timer.active())
    st.timer = rt::at(self, st.delayed.front().first, [self] { on_tick(self); });
}

// A storage "connection" is free: the next waiting op that is still wanted
// takes it.
void next_waiting(shard_actor_ptr self) {
  auto& st = self->state;
  while (!st.waiting.empty() && st.delayed.size() < st.concurrency) {
    auto op = std::move(st.waiting.front());
    st.waiting.pop_front();
    if (!wanted(op)) {
      --st.pending;
      continue;
    }
    start_latency(self, std::move(op));
  }
}

void on_tick(shard_actor_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (!st.delayed.empty() && st.delayed.front().first <= now) {
    st.queue.push_back(std::move(st.delayed.front().second));
    st.delayed.pop_front();
  }
  pump(self);
  next_waiting(self);
  if (!st.delayed.empty() && !st.timer.active())
    st.timer = rt::at(self, st.delayed.front().first, [self] { on_tick(self); });
}

void admit(shard_actor_ptr self, shard_op op) {
  auto& st = self->state;
  if (st.pending >= st.max_pending) {
    refuse(op, shed_status(st));
    return;
  }
  ++st.pending;
  if (st.latency.count() == 0) {
    st.queue.push_back(std::move(op));
    pump(self);
    return;
  }
  if (st.concurrency > 0 && st.delayed.size() >= st.concurrency) {
    st.waiting.push_back(std::move(op));
    return;
  }
  start_latency(self, std::move(op));
}

caf::behavior shard_actor(shard_actor_ptr self, std::uint32_t index,
                          std::shared_ptr<storage_slot> slot, rt::blocking_pool* pool,
                          kv_settings settings) {
  auto& st = self->state;
  st.index = index;
  st.slot = std::move(slot);
  st.pool = pool;
  st.latency = settings.latency;
  st.concurrency = settings.storage_concurrency;
  st.storage_timeout = settings.storage_timeout;
  st.max_pending = settings.max_pending;
  return {
    [=](get_call& c) { admit(self, std::move(c)); },
    [=](put_call& c) { admit(self, std::move(c)); },
    [=](delete_call& c) { admit(self, std::move(c)); },
    [=](multi_get_part& p) { admit(self, std::move(p)); },
    [=](scan_part& p) { admit(self, std::move(p)); },
    [=](done_atom) {
      self->state.busy = false;
      --self->state.pending;
      pump(self);
    },
  };
}

} // namespace

kv_shards::kv_shards(rt::service_context& ctx, kv_settings settings)
  : settings_(std::move(settings)) {
  auto& s = settings_;
  for (std::uint32_t i = 0; i < s.shards; ++i) {
    auto slot = std::make_shared<storage_slot>();
    for (std::size_t op = 0; op < slot->took.size(); ++op)
      slot->took[op] = &ctx.metrics().histogram(
        "troupe_kv_storage_duration_seconds",
        "kv storage calls by backend and op, from the shard's start of the call to its answer "
        "(on the blocking pool for sqlite and postgres, in the shard for memory; "
        "kv.latency_ms not included).",
        rt::metrics::latency_buckets(), {{"backend", s.backend}, {"op", op_names[op]}});
    shard_slot where{i, s.shards};
    rt::blocking_pool* pool = &ctx.blocking();
    if (s.backend == "memory") {
      slot->open = [where] { return open_memory_storage(where); };
      pool = nullptr;
    } else if (s.backend == "sqlite") {
      slot->open = [path = s.path, where] { return open_sqlite_storage(path, where); };
    } else {
      slot->open = [dsn = s.dsn, where] { return open_postgres_storage(dsn, where); };
    }
    try {
      slot->handle = slot->open();
    } catch (const storage_error& e) {
      // A database that is down at start is retried; anything else is fatal.
      if (s.backend != "postgres" || e.what_kind != storage_error::kind::unavailable)
        throw std::runtime_error(std::string("kv storage: ") + e.what());
      if (i == 0)
        spdlog::warn("kv: PostgreSQL unavailable at start, calls fail UNAVAILABLE until it "
                     "answers: {}",
                     e.what());
    }
    actors_.push_back(ctx.system().spawn(shard_actor, i, std::move(slot), pool, s));
  }
}

kv_shards::~kv_shards() {
  stop();
}

std::uint32_t kv_shards::index_of(const std::string& key) const {
  return shard_of_key(key, static_cast<std::uint32_t>(actors_.size()));
}

const caf::actor& kv_shards::owner(const std::string& key) const {
  return actors_[index_of(key)];
}

void kv_shards::stop() {
  for (auto& a : actors_)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

} // namespace troupe::kv
