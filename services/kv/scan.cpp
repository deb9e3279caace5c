#include "kv/scan.hpp"

#include <caf/all.hpp>

#include <deque>

#include "kv/kv_shards.hpp"
#include "kv/shard_messages.hpp"
#include "kv/validation.hpp"

namespace troupe::kv {

namespace {

using writable_atom = caf::atom_constant<caf::atom("writable")>;

constexpr std::uint32_t scan_batch_size = 256;

struct scan_state {
  struct source {
    std::deque<record> buffered;
    std::string cursor;
    bool exhausted = false;
    bool requested = false;
  };
  scan_call call;
  // Handles of their own: the merge never reaches into the service's state,
  // which shutdown tears down from another thread.
  std::vector<caf::actor> shards;
  std::uint32_t remaining = 0;
  std::vector<source> sources;

  static const char* name;
};

const char* scan_state::name = "kv-scan";

using scan_actor_ptr = caf::stateful_actor<scan_state>*;

void request_batch(scan_actor_ptr self, std::uint32_t shard) {
  auto& st = self->state;
  auto& src = st.sources[shard];
  src.requested = true;
  scan_part part;
  part.merge = caf::actor_cast<caf::actor>(self);
  part.shard = shard;
  part.prefix = st.call->request().prefix();
  part.cursor = src.cursor;
  part.limit = std::min(st.remaining, scan_batch_size);
  part.token = st.call->token();
  part.due = st.call->due();
  self->send(st.shards[shard], std::move(part));
}

void finish_scan(scan_actor_ptr self, rt::call_status status) {
  self->state.call->finish(std::move(status));
  self->quit();
}

void advance(scan_actor_ptr self) {
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
    switch (st.call->push(e)) {
      case rt::push_result::accepted:
        st.sources[best].buffered.pop_front();
        --st.remaining;
        break;
      case rt::push_result::full: {
        auto me = caf::actor_cast<caf::actor>(self);
        st.call->when_writable([me] { caf::anon_send(me, writable_atom::value); });
        return;
      }
      case rt::push_result::ended:
        self->quit();
        return;
    }
  }
  finish_scan(self, rt::call_status::success());
}

caf::behavior scan_actor(scan_actor_ptr self, std::vector<caf::actor> shards, scan_call call) {
  auto& st = self->state;
  st.remaining = effective_scan_limit(call->request().limit());
  st.sources.resize(shards.size());
  for (auto& src : st.sources)
    src.cursor = call->request().start_after();
  st.shards = std::move(shards);
  st.call = std::move(call);
  // A client that goes away stops the merge, and with it every shard's work.
  auto me = caf::actor_cast<caf::actor>(self);
  st.call->on_end([me] { caf::anon_send_exit(me, caf::exit_reason::user_shutdown); });
  advance(self);
  return {
    [=](scan_batch& b) {
      auto& src = self->state.sources[b.shard];
      src.requested = false;
      src.exhausted = b.exhausted;
      if (!b.records.empty())
        src.cursor = b.records.back().key;
      for (auto& r : b.records)
        src.buffered.push_back(std::move(r));
      advance(self);
    },
    [=](writable_atom) { advance(self); },
    [=](rt::call_status& status) { finish_scan(self, std::move(status)); },
  };
}

} // namespace

void scan(const kv_shards& shards, scan_call call) {
  call->token(); // made now: the shards' parts watch it
  auto& system = shards.all().front()->home_system();
  system.spawn(scan_actor, shards.all(), std::move(call));
}

} // namespace troupe::kv
