// The shard actors and the per-call joins/merges built on them.

#include "kv/kv_shards.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>

#include "kv/storage/storage.hpp"
#include "troupe/rt/blocking_pool.hpp"
#include "troupe/rt/inline_execution.hpp"
#include "troupe/rt/service_module.hpp"

namespace troupe::kv {

/// One storage call waiting for its shard. `wanted` says whether anyone still
/// waits for the answer, so work for cancelled or expired calls is dropped
/// before it touches storage.
struct storage_op {
  std::function<bool()> wanted;
  rt::deadline due;
  std::function<void(storage&)> run; // answers the call; may throw storage_error
  std::function<void(rt::call_status)> fail;
  bool counted = true; // holds a kv.max_pending slot of its shard
};

struct scan_batch {
  std::uint32_t shard = 0;
  std::vector<record> records;
};

} // namespace troupe::kv

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::kv::storage_op)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::kv::scan_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::rt::call_status)

namespace troupe::kv {

namespace {

using op_atom = caf::atom_constant<caf::atom("op")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using writable_atom = caf::atom_constant<caf::atom("writable")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;

// The storage handle of one shard. Only the shard's current storage call
// touches it (the shard runs one at a time), on whichever thread runs it.
struct storage_slot {
  std::unique_ptr<storage> handle;
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

// Runs one op against the slot and answers its call.
void execute(storage_slot& slot, storage_op& op) {
  auto* s = slot.get();
  if (s == nullptr) {
    op.fail(rt::call_status::of(rt::status_code::unavailable, "storage is unavailable"));
    return;
  }
  try {
    op.run(*s);
  } catch (const storage_error& e) {
    if (e.what_kind == storage_error::kind::unavailable) {
      slot.handle.reset(); // reconnect on a later call
      op.fail(rt::call_status::of(rt::status_code::unavailable, e.what()));
    } else {
      op.fail(rt::call_status::of(rt::status_code::internal, e.what()));
    }
  } catch (const std::exception& e) {
    op.fail(rt::call_status::of(rt::status_code::internal, e.what()));
  }
}

rt::call_status skipped_status(const storage_op& op) {
  return op.due.expired()
           ? rt::call_status::from_cancel(rt::cancel_reason::deadline_exceeded)
           : rt::call_status::from_cancel(rt::cancel_reason::client_cancelled);
}

struct shard_state {
  std::uint32_t index = 0;
  std::shared_ptr<storage_slot> slot;
  rt::blocking_pool* pool = nullptr; // null: storage never blocks (memory)
  std::chrono::milliseconds latency{0};
  std::atomic<int>* pending = nullptr;
  std::deque<storage_op> queue;
  bool busy = false;
  // Ops waiting out the simulated latency, in arrival order. The latency is
  // the same for all, so they become ready in this order too and one timer,
  // armed for the oldest, serves them all in batches.
  std::deque<std::pair<std::chrono::steady_clock::time_point, storage_op>> delayed;
  bool timer_armed = false;

  ~shard_state() {
    for (auto& op : queue)
      op.fail(rt::call_status::of(rt::status_code::unavailable, "server is shutting down"));
    for (auto& entry : delayed)
      entry.second.fail(
        rt::call_status::of(rt::status_code::unavailable, "server is shutting down"));
  }

  static const char* name;
};

const char* shard_state::name = "kv-shard";

void release_slot(shard_state& st, const storage_op& op) {
  if (op.counted)
    st.pending->fetch_sub(1, std::memory_order_relaxed);
}

void pump(caf::stateful_actor<shard_state>* self) {
  auto& st = self->state;
  while (!st.busy && !st.queue.empty()) {
    auto op = std::move(st.queue.front());
    st.queue.pop_front();
    if (!op.wanted() || op.due.expired()) {
      op.fail(skipped_status(op));
      release_slot(st, op);
      continue;
    }
    if (st.pool == nullptr) {
      execute(*st.slot, op);
      release_slot(st, op);
      continue;
    }
    st.busy = true;
    auto me = caf::actor_cast<caf::actor>(self);
    auto counted = op.counted;
    auto shared_op = std::make_shared<storage_op>(std::move(op));
    rt::blocking_job job;
    job.due = shared_op->due;
    job.run = [slot = st.slot, shared_op, me, counted] {
      if (shared_op->wanted())
        execute(*slot, *shared_op);
      else
        shared_op->fail(skipped_status(*shared_op));
      caf::anon_send(me, done_atom::value, counted);
    };
    job.skipped = [shared_op, me, counted](rt::cancel_reason r) {
      shared_op->fail(rt::call_status::from_cancel(r));
      caf::anon_send(me, done_atom::value, counted);
    };
    if (st.pool->try_submit(std::move(job)) != rt::submit_result::accepted) {
      st.busy = false;
      shared_op->fail(rt::call_status::overloaded("blocking pool queue is full (runtime.blocking_queue)",
                                                  std::chrono::milliseconds(100)));
      release_slot(st, *shared_op);
    }
  }
}

caf::behavior shard_actor(caf::stateful_actor<shard_state>* self, std::uint32_t index,
                          std::shared_ptr<storage_slot> slot, rt::blocking_pool* pool,
                          std::chrono::milliseconds latency, std::atomic<int>* pending) {
  auto& st = self->state;
  st.index = index;
  st.slot = std::move(slot);
  st.pool = pool;
  st.latency = latency;
  st.pending = pending;
  return {
    [=](op_atom, storage_op& op) {
      auto& st = self->state;
      if (st.latency.count() == 0) {
        st.queue.push_back(std::move(op));
        pump(self);
        return;
      }
      // The simulated database latency costs a place in this queue, not a
      // thread and not a timer per call.
      st.delayed.emplace_back(std::chrono::steady_clock::now() + st.latency, std::move(op));
      if (!st.timer_armed) {
        st.timer_armed = true;
        self->delayed_send(self, st.latency, tick_atom::value);
      }
    },
    [=](tick_atom) {
      auto& st = self->state;
      st.timer_armed = false;
      // Ops due within a millisecond go in this batch too: one wake-up per
      // batch instead of one per call.
      auto horizon = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
      while (!st.delayed.empty() && st.delayed.front().first <= horizon) {
        st.queue.push_back(std::move(st.delayed.front().second));
        st.delayed.pop_front();
      }
      pump(self);
      if (!st.delayed.empty()) {
        st.timer_armed = true;
        auto wait = st.delayed.front().first - std::chrono::steady_clock::now();
        self->delayed_send(self, std::max<std::chrono::steady_clock::duration>(wait, {}),
                           tick_atom::value);
      }
    },
    [=](done_atom, bool counted) {
      self->state.busy = false;
      if (counted)
        self->state.pending->fetch_sub(1, std::memory_order_relaxed);
      pump(self);
    },
  };
}

template <class Response>
storage_op make_op(const rt::unary_call_ptr<Response>& call,
                   std::function<void(storage&)> run) {
  storage_op op;
  op.wanted = [call] { return call->open(); };
  op.due = call->due();
  op.run = std::move(run);
  op.fail = [call](rt::call_status s) { call->fail(std::move(s)); };
  return op;
}

} // namespace

struct kv_shards::impl {
  caf::actor_system& system;
  kv_settings settings;
  std::vector<caf::actor> shards;
  std::unique_ptr<std::atomic<int>[]> pending;

  impl(caf::actor_system& sys, kv_settings s) : system(sys), settings(std::move(s)) {}

  std::uint32_t shard_of(const std::string& key) const {
    return shard_of_key(key, static_cast<std::uint32_t>(shards.size()));
  }

  // Load shedding: a shard with kv.max_pending calls in flight refuses more.
  bool admit(std::uint32_t shard) {
    auto before = pending[shard].fetch_add(1, std::memory_order_relaxed);
    if (before < static_cast<int>(settings.max_pending))
      return true;
    pending[shard].fetch_sub(1, std::memory_order_relaxed);
    return false;
  }

  rt::call_status shed_status(std::uint32_t shard) const {
    // By the time the queue has drained by a useful amount.
    auto pushback = std::max<std::int64_t>(50, settings.latency.count());
    return rt::call_status::overloaded("kv shard " + std::to_string(shard) + " has "
                                         + std::to_string(settings.max_pending)
                                         + " calls pending (kv.max_pending)",
                                       std::chrono::milliseconds(pushback));
  }

  void submit(std::uint32_t shard, storage_op op) {
    rt::send_inline(shards[shard], caf::make_message(op_atom::value, std::move(op)));
  }

  template <class Response>
  void submit_call(const std::string& key, const rt::unary_call_ptr<Response>& call,
                   std::function<void(storage&)> run) {
    auto shard = shard_of(key);
    if (!admit(shard)) {
      call->fail(shed_status(shard));
      return;
    }
    submit(shard, make_op(call, std::move(run)));
  }
};

kv_shards::kv_shards(rt::host_context& ctx, kv_settings settings)
  : impl_(std::make_unique<impl>(ctx.system, std::move(settings))) {
  auto& s = impl_->settings;
  impl_->pending = std::make_unique<std::atomic<int>[]>(s.shards);
  for (std::uint32_t i = 0; i < s.shards; ++i) {
    impl_->pending[i].store(0);
    auto slot = std::make_shared<storage_slot>();
    shard_slot where{i, s.shards};
    rt::blocking_pool* pool = &ctx.blocking;
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
    impl_->shards.push_back(ctx.system.spawn(shard_actor, i, std::move(slot), pool, s.latency,
                                             &impl_->pending[i]));
  }
}

kv_shards::~kv_shards() {
  stop();
}

void kv_shards::stop() {
  for (auto& a : impl_->shards)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  impl_->shards.clear();
}

void kv_shards::get(std::string key, rt::unary_call_ptr<v1::GetResponse> call) {
  impl_->submit_call(key, call, [key, call](storage& s) {
    auto r = s.get(key);
    call->reply([&](v1::GetResponse& resp) {
      if (r) {
        resp.set_found(true);
        resp.set_value(std::move(r->value));
        resp.set_version(r->version);
      }
    });
  });
}

void kv_shards::put(std::string key, std::string value, std::optional<std::uint64_t> if_version,
                    rt::unary_call_ptr<v1::PutResponse> call) {
  auto k = key;
  impl_->submit_call(k, call, [key = std::move(key), value = std::move(value), if_version,
                               call](storage& s) {
    auto r = s.put(key, value, if_version);
    if (!r.applied) {
      call->fail(rt::call_status::of(
        rt::status_code::aborted,
        "if_version: expected " + std::to_string(*if_version) + ", current version is "
          + std::to_string(r.version) + (r.version == 0 ? " (key absent)" : "")));
      return;
    }
    call->reply([&](v1::PutResponse& resp) { resp.set_version(r.version); });
  });
}

void kv_shards::erase(std::string key, rt::unary_call_ptr<v1::DeleteResponse> call) {
  impl_->submit_call(key, call, [key, call](storage& s) {
    auto existed = s.erase(key);
    call->reply([&](v1::DeleteResponse& resp) { resp.set_existed(existed); });
  });
}

namespace {

// try_join over the shards a MultiGet touches: each shard fills its own
// slots; the last one answers; the first error answers for all and the
// others' storage calls are then dropped (the call is no longer open).
struct multi_get_join {
  rt::unary_call_ptr<v1::MultiGetResponse> call;
  std::vector<v1::Entry> entries;
  std::atomic<int> remaining{0};
};

} // namespace

void kv_shards::multi_get(std::vector<std::string> keys,
                          rt::unary_call_ptr<v1::MultiGetResponse> call) {
  if (keys.empty()) {
    call->reply([](v1::MultiGetResponse&) {});
    return;
  }
  std::map<std::uint32_t, std::vector<std::size_t>> by_shard;
  for (std::size_t i = 0; i < keys.size(); ++i)
    by_shard[impl_->shard_of(keys[i])].push_back(i);
  std::vector<std::uint32_t> admitted;
  for (auto& [shard, _] : by_shard) {
    if (!impl_->admit(shard)) {
      for (auto a : admitted)
        impl_->pending[a].fetch_sub(1, std::memory_order_relaxed);
      call->fail(impl_->shed_status(shard));
      return;
    }
    admitted.push_back(shard);
  }
  auto join = std::make_shared<multi_get_join>();
  join->call = call;
  join->entries.resize(keys.size());
  join->remaining.store(static_cast<int>(by_shard.size()));
  auto shared_keys = std::make_shared<std::vector<std::string>>(std::move(keys));
  for (auto& [shard, indexes] : by_shard) {
    auto op = make_op(call, [join, shared_keys, indexes = indexes](storage& s) {
      for (auto i : indexes) {
        auto& e = join->entries[i];
        e.set_key((*shared_keys)[i]);
        if (auto r = s.get((*shared_keys)[i])) {
          e.set_found(true);
          e.set_value(std::move(r->value));
          e.set_version(r->version);
        }
      }
      if (join->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
        join->call->reply([&](v1::MultiGetResponse& resp) {
          for (auto& e : join->entries)
            *resp.add_entries() = std::move(e);
        });
    });
    impl_->submit(shard, std::move(op));
  }
}

namespace {

// k-way merge of per-shard scans, streamed as it goes: each shard is asked
// for the next batch of its keys only when the merge has used up the last one,
// and the merge pauses while the client's buffer is full.
struct scan_state {
  struct source {
    std::deque<record> buffered;
    std::string cursor;
    bool exhausted = false;
    bool requested = false;
  };
  rt::server_stream_ptr<v1::Entry> stream;
  kv_shards::impl* shards = nullptr;
  std::string prefix;
  std::uint32_t remaining = 0;
  std::vector<source> sources;
  bool ended = false;

  static const char* name;
};

const char* scan_state::name = "kv-scan";

constexpr std::uint32_t scan_batch_size = 256;

void request_batch(caf::stateful_actor<scan_state>* self, std::uint32_t shard) {
  auto& st = self->state;
  auto& src = st.sources[shard];
  src.requested = true;
  auto me = caf::actor_cast<caf::actor>(self);
  auto want = std::min(st.remaining, scan_batch_size);
  storage_op op;
  op.counted = false;
  auto stream = st.stream;
  op.wanted = [stream] { return stream->open(); };
  op.due = stream->due();
  op.run = [me, shard, prefix = st.prefix, after = src.cursor, want](storage& s) {
    scan_batch b;
    b.shard = shard;
    b.records = s.scan(prefix, after, want);
    bool exhausted = b.records.size() < want;
    caf::anon_send(me, std::move(b), exhausted);
  };
  op.fail = [me](rt::call_status status) { caf::anon_send(me, failed_atom::value, status); };
  self->send(st.shards->shards[shard], op_atom::value, std::move(op));
}

void finish_scan(caf::stateful_actor<scan_state>* self, rt::call_status status) {
  auto& st = self->state;
  if (!st.ended) {
    st.ended = true;
    st.stream->finish(std::move(status));
  }
  self->quit();
}

void advance(caf::stateful_actor<scan_state>* self) {
  auto& st = self->state;
  while (st.remaining > 0) {
    bool waiting = false;
    int best = -1;
    for (std::size_t i = 0; i < st.sources.size(); ++i) {
      auto& src = st.sources[i];
      if (src.buffered.empty()) {
        if (!src.exhausted) {
          if (!src.requested)
            request_batch(self, static_cast<std::uint32_t>(i));
          waiting = true;
        }
        continue;
      }
      if (best < 0 || src.buffered.front().key < st.sources[best].buffered.front().key)
        best = static_cast<int>(i);
    }
    if (waiting)
      return; // the smallest key may still come from a shard we wait for
    if (best < 0)
      break; // every shard is exhausted
    auto& rec = st.sources[best].buffered.front();
    v1::Entry e;
    e.set_key(rec.key);
    e.set_found(true);
    e.set_value(rec.value);
    e.set_version(rec.version);
    switch (st.stream->push(e)) {
      case rt::push_result::accepted:
        st.sources[best].buffered.pop_front();
        --st.remaining;
        break;
      case rt::push_result::full: {
        auto me = caf::actor_cast<caf::actor>(self);
        st.stream->when_writable([me] { caf::anon_send(me, writable_atom::value); });
        return;
      }
      case rt::push_result::ended:
        self->quit();
        return;
    }
  }
  finish_scan(self, rt::call_status::success());
}

caf::behavior scan_actor(caf::stateful_actor<scan_state>* self, kv_shards::impl* shards,
                         rt::server_stream_ptr<v1::Entry> stream, std::string prefix,
                         std::string start_after, std::uint32_t limit) {
  auto& st = self->state;
  st.stream = stream;
  st.shards = shards;
  st.prefix = std::move(prefix);
  st.remaining = limit;
  st.sources.resize(shards->shards.size());
  for (auto& src : st.sources)
    src.cursor = start_after;
  // A client that goes away stops the merge, and with it every shard's work.
  auto me = caf::actor_cast<caf::actor>(self);
  stream->on_end([me] { caf::anon_send_exit(me, caf::exit_reason::user_shutdown); });
  advance(self);
  return {
    [=](scan_batch& b, bool exhausted) {
      auto& src = self->state.sources[b.shard];
      src.requested = false;
      src.exhausted = exhausted;
      if (!b.records.empty())
        src.cursor = b.records.back().key;
      for (auto& r : b.records)
        src.buffered.push_back(std::move(r));
      advance(self);
    },
    [=](writable_atom) { advance(self); },
    [=](failed_atom, rt::call_status& status) { finish_scan(self, std::move(status)); },
  };
}

} // namespace

void kv_shards::scan(std::string prefix, std::string start_after, std::uint32_t limit,
                     rt::server_stream_ptr<v1::Entry> stream) {
  impl_->system.spawn(scan_actor, impl_.get(), std::move(stream), std::move(prefix),
                      std::move(start_after), limit);
}

} // namespace troupe::kv
