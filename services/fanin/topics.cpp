// The topic actors and the registry that creates them on first use.

#include "fanin/topics.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <shared_mutex>
#include <unordered_map>
#include <variant>

#include "fanin/fanin_metrics.hpp"
#include "fanin/topic_state.hpp"
#include "troupe/rt/inline_execution.hpp"
#include "troupe/rt/timers.hpp"

namespace troupe::fanin {

/// Registers one topic slot of a subscription with that topic's actor.
struct subscribe_request {
  std::shared_ptr<subscription> sub;
  std::size_t slot = 0;
  bool has_start = false;
  std::uint64_t start_after = 0;
};

} // namespace troupe::fanin

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::fanin::subscribe_request)

namespace troupe::fanin {

namespace {

using drain_atom = caf::atom_constant<caf::atom("drain")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using writable_atom = caf::atom_constant<caf::atom("writable")>;
using forget_atom = caf::atom_constant<caf::atom("forget")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;

// Events taken from the inbound queue per message: large enough to amortise
// the hop and the queue's lock, small enough that subscribe and writable
// messages are not kept waiting behind a flood.
constexpr std::size_t drain_batch = 256;

struct topic_core final : topic_inlet {
  topic_core(std::string name, std::size_t queue_capacity)
    : topic_inlet(std::move(name), queue_capacity) {}
  caf::actor actor;
};

struct topic_actor_state {
  std::shared_ptr<topic_core> core;
  std::unique_ptr<topic_state> topic;
  std::chrono::milliseconds delay{0};
  bool paused = false; // fanin.topic_delay_ms: a timer resumes it

  static const char* name;
};

const char* topic_actor_state::name = "fanin-topic";

using topic_actor_ptr = caf::stateful_actor<topic_actor_state>*;

void publish_counters(topic_actor_state& st) {
  st.core->last_seq.store(st.topic->last_seq(), std::memory_order_relaxed);
  st.core->subscribers.store(static_cast<std::uint32_t>(st.topic->subscriber_count()),
                             std::memory_order_relaxed);
}

std::size_t take_batch(topic_actor_state& st) {
  return st.core->queue.drain(drain_batch,
                              [&](inbound_ptr&& event) { st.topic->append(std::move(*event)); });
}

void drain_inbound(topic_actor_ptr self) {
  auto& st = self->state;
  if (st.paused)
    return;
  take_batch(st);
  st.topic->fan_out();
  publish_counters(st);
  if (st.delay.count() > 0) {
    st.paused = true;
    rt::after(self, st.delay, [self] {
      self->state.paused = false;
      drain_inbound(self);
    });
    return;
  }
  // The queue pokes us only when it goes from empty to non-empty: while it
  // still holds events after a batch, keep going ourselves.
  if (st.core->queue.size() > 0)
    self->send(self, drain_atom::value);
}

caf::behavior topic_actor(topic_actor_ptr self, std::shared_ptr<topic_core> core,
                          std::size_t retention, std::chrono::milliseconds delay,
                          topic_counters counters) {
  auto& st = self->state;
  st.topic = std::make_unique<topic_state>(core->name, retention, counters);
  st.core = std::move(core);
  st.delay = delay;
  return {
    [=](drain_atom) { drain_inbound(self); },
    [=](subscribe_request& r) {
      auto& s = self->state;
      std::optional<std::uint64_t> after;
      if (r.has_start)
        after = r.start_after;
      s.topic->add(r.sub, r.slot, after);
      publish_counters(s);
    },
    [=](start_atom, std::uint64_t id) {
      self->state.topic->start(id);
      publish_counters(self->state);
    },
    [=](writable_atom, std::uint64_t id) {
      self->state.topic->writable(id);
      publish_counters(self->state);
    },
    [=](forget_atom, std::uint64_t id) {
      self->state.topic->remove(id);
      publish_counters(self->state);
    },
    [=](shutdown_atom) {
      auto& s = self->state;
      // Producers waiting for room are woken here, see `closed` and end
      // UNAVAILABLE; what the queue accepted is still delivered.
      s.core->queue.close();
      while (take_batch(s) > 0) {
      }
      s.topic->begin_drain();
      publish_counters(s);
    },
  };
}

} // namespace

struct fanin_topics::impl {
  caf::actor_system& system;
  fanin_settings settings;

  mutable std::shared_mutex mtx;
  std::unordered_map<std::string, std::shared_ptr<topic_core>> topics;
  bool draining = false;

  std::atomic<std::uint64_t> next_subscription{1};

  // Live Publish streams, so that shutdown can end idle ones at once instead
  // of leaving them to the grace period.
  std::mutex publishers_mtx;
  std::vector<std::weak_ptr<publisher>> publishers;
  std::size_t prune_at = 64;

  fanin_metrics metrics;

  impl(caf::actor_system& sys, fanin_settings s, rt::metrics::registry& registry)
    : system(sys), settings(s),
      metrics(registry, static_cast<std::size_t>(s.metrics_topics)) {}

  std::variant<std::shared_ptr<topic_core>, rt::call_status> find_or_create(const std::string& name) {
    {
      std::shared_lock<std::shared_mutex> read{mtx};
      auto it = topics.find(name);
      if (it != topics.end())
        return it->second;
    }
    std::unique_lock<std::shared_mutex> write{mtx};
    auto it = topics.find(name);
    if (it != topics.end())
      return it->second;
    if (draining)
      return rt::call_status::from_cancel(rt::cancel_reason::shutting_down);
    if (topics.size() >= settings.max_topics)
      return rt::call_status::of(rt::status_code::resource_exhausted,
                                 "topic '" + name + "' would exceed the "
                                   + std::to_string(settings.max_topics)
                                   + " topics allowed (fanin.max_topics); topics are never "
                                     "deleted");
    auto core = std::make_shared<topic_core>(name, static_cast<std::size_t>(settings.topic_queue));
    core->actor = system.spawn(topic_actor, core, static_cast<std::size_t>(settings.retention),
                               settings.topic_delay, metrics.for_topic(name));
    // Producers run the topic right on their gRPC thread when it is idle:
    // no hop to a CAF worker per burst.
    core->queue.set_consumer_wakeup(
      [actor = core->actor] { rt::send_inline(actor, caf::make_message(drain_atom::value)); });
    topics.emplace(name, core);
    return core;
  }

  void track(const std::shared_ptr<publisher>& p) {
    std::lock_guard<std::mutex> guard{publishers_mtx};
    if (publishers.size() >= prune_at) {
      publishers.erase(std::remove_if(publishers.begin(), publishers.end(),
                                      [](const std::weak_ptr<publisher>& w) { return w.expired(); }),
                       publishers.end());
      prune_at = std::max<std::size_t>(64, publishers.size() * 2);
    }
    publishers.push_back(p);
  }
};

fanin_topics::fanin_topics(caf::actor_system& system, fanin_settings settings,
                           rt::metrics::registry& metrics)
  : impl_(std::make_unique<impl>(system, settings, metrics)) {
  auto* self = impl_.get();
  metrics.gauge_fn("troupe_fanin_topics", "Topics that exist (at most fanin.max_topics).", {},
                   [self] {
                     std::shared_lock<std::shared_mutex> read{self->mtx};
                     return static_cast<double>(self->topics.size());
                   });
}

fanin_topics::~fanin_topics() {
  stop();
}

const fanin_settings& fanin_topics::settings() const {
  return impl_->settings;
}

std::shared_ptr<publisher> fanin_topics::open_publisher() {
  auto* self = impl_.get();
  topic_lookup lookup =
    [self](const std::string& name) -> std::variant<std::shared_ptr<topic_inlet>, rt::call_status> {
    auto found = self->find_or_create(name);
    if (auto* status = std::get_if<rt::call_status>(&found))
      return std::move(*status);
    return std::shared_ptr<topic_inlet>(std::get<std::shared_ptr<topic_core>>(std::move(found)));
  };
  auto p = std::make_shared<publisher>(std::move(lookup), &self->metrics.throttled);
  impl_->track(p);
  return p;
}

void fanin_topics::subscribe(const std::vector<std::string>& topics,
                             const std::map<std::string, std::uint64_t>& start_after,
                             rt::server_stream_ptr stream) {
  std::vector<std::string> names;
  for (const auto& t : topics)
    if (std::find(names.begin(), names.end(), t) == names.end())
      names.push_back(t);
  std::vector<std::shared_ptr<topic_core>> cores;
  cores.reserve(names.size());
  for (const auto& name : names) {
    auto found = impl_->find_or_create(name);
    if (auto* status = std::get_if<rt::call_status>(&found)) {
      stream->finish(std::move(*status));
      return;
    }
    cores.push_back(std::get<std::shared_ptr<topic_core>>(std::move(found)));
  }
  auto id = impl_->next_subscription.fetch_add(1, std::memory_order_relaxed);
  // Signals come from gRPC threads (room in the stream, call ended) or from
  // another topic actor: a plain send, never running a topic inline inside
  // another one that holds the subscription's lock.
  auto notify = [cores, id](std::size_t slot, sub_signal signal) {
    const auto& actor = cores[slot]->actor;
    switch (signal) {
      case sub_signal::start:
        caf::anon_send(actor, start_atom::value, id);
        break;
      case sub_signal::writable:
        caf::anon_send(actor, writable_atom::value, id);
        break;
      case sub_signal::ended:
        caf::anon_send(actor, forget_atom::value, id);
        break;
    }
  };
  auto sub = std::make_shared<subscription>(id, stream, names,
                                            static_cast<std::size_t>(impl_->settings.subscriber_buffer),
                                            std::move(notify), &impl_->metrics.cutoffs);
  for (std::size_t slot = 0; slot < cores.size(); ++slot) {
    subscribe_request r;
    r.sub = sub;
    r.slot = slot;
    auto it = start_after.find(names[slot]);
    if (it != start_after.end()) {
      r.has_start = true;
      r.start_after = it->second;
    }
    rt::send_inline(cores[slot]->actor, caf::make_message(std::move(r)));
  }
  // Registered after the subscribe messages went out, so that each topic
  // sees `forget` after `subscribe` even when the client is already gone.
  stream->on_end([sub] { sub->forget_everywhere(); });
}

std::vector<topic_info> fanin_topics::list() const {
  std::vector<topic_info> out;
  {
    std::shared_lock<std::shared_mutex> read{impl_->mtx};
    out.reserve(impl_->topics.size());
    for (const auto& [name, core] : impl_->topics)
      out.push_back(topic_info{name, core->last_seq.load(std::memory_order_relaxed),
                               core->subscribers.load(std::memory_order_relaxed)});
  }
  std::sort(out.begin(), out.end(),
            [](const topic_info& a, const topic_info& b) { return a.name < b.name; });
  return out;
}

void fanin_topics::drain() {
  std::vector<std::shared_ptr<topic_core>> cores;
  {
    std::unique_lock<std::shared_mutex> write{impl_->mtx};
    impl_->draining = true;
    for (const auto& [_, core] : impl_->topics)
      cores.push_back(core);
  }
  std::vector<std::weak_ptr<publisher>> publishers;
  {
    std::lock_guard<std::mutex> guard{impl_->publishers_mtx};
    publishers.swap(impl_->publishers);
  }
  for (auto& w : publishers)
    if (auto p = w.lock())
      p->shut_down();
  for (auto& core : cores)
    caf::anon_send(core->actor, shutdown_atom::value);
}

void fanin_topics::stop() {
  std::unique_lock<std::shared_mutex> write{impl_->mtx};
  for (auto& [_, core] : impl_->topics) {
    // The wake-up holds the actor: dropping it lets the actor be freed.
    core->queue.set_consumer_wakeup(nullptr);
    caf::anon_send_exit(core->actor, caf::exit_reason::user_shutdown);
  }
  impl_->topics.clear();
}

} // namespace troupe::fanin
