#include "fanin/topic_state.hpp"

#include <limits>

namespace troupe::fanin {

topic_state::topic_state(std::string name, std::size_t retention, topic_counters counters)
  : ring_(std::move(name), retention), counters_(counters) {}

void topic_state::add(const std::shared_ptr<subscription>& sub, std::size_t slot,
                      std::optional<std::uint64_t> start_after) {
  if (!sub->open())
    return;
  if (draining_) {
    sub->fail(rt::call_status::from_cancel(rt::cancel_reason::shutting_down));
    return;
  }
  auto after = ring_.last_seq();
  if (start_after) {
    auto field = "start_after[" + name() + "]";
    switch (ring_.check_resume(*start_after)) {
      case event_ring::resume_check::ok:
        break;
      case event_ring::resume_check::too_old:
        sub->fail(rt::call_status::of(
          rt::status_code::out_of_range,
          field + ": events after seq " + std::to_string(*start_after)
            + " are no longer all retained; the oldest retained seq is "
            + std::to_string(ring_.first_seq()) + " (fanin.retention = "
            + std::to_string(ring_.capacity()) + ")"));
        return;
      case event_ring::resume_check::beyond_last:
        sub->fail(rt::call_status::of(rt::status_code::out_of_range,
                                      field + ": " + std::to_string(*start_after)
                                        + " is beyond the last seq "
                                        + std::to_string(ring_.last_seq())));
        return;
    }
    after = *start_after;
  }
  entries_.push_back(entry{sub, slot, after + 1});
  if (sub->registered(slot, after))
    start(sub->id());
}

void topic_state::start(std::uint64_t sub_id) {
  auto* e = find(sub_id);
  if (e == nullptr || e->started)
    return;
  e->started = true;
  if (!advance(*e, false))
    erase(sub_id);
}

void topic_state::writable(std::uint64_t sub_id) {
  auto* e = find(sub_id);
  if (e == nullptr || !e->waiting)
    return;
  e->waiting = false;
  if (!advance(*e, false))
    erase(sub_id);
}

void topic_state::remove(std::uint64_t sub_id) {
  erase(sub_id);
}

void topic_state::append(inbound_event&& event) {
  if (ring_.size() == ring_.capacity())
    bump(counters_.evicted);
  ring_.append(std::move(event.payload), std::move(event.producer), event.unix_nanos);
  bump(counters_.accepted);
}

void topic_state::fan_out() {
  auto first = fanned_out_ + 1;
  fanned_out_ = ring_.last_seq();
  if (first > fanned_out_)
    return;
  for (std::size_t i = 0; i < entries_.size();) {
    auto& e = entries_[i];
    // A subscriber that had everything before this batch is live for it;
    // one still waiting for room is catching up and resumes on `writable`.
    if (!e.started || e.waiting || advance(e, e.next == first)) {
      ++i;
      continue;
    }
    e = std::move(entries_.back());
    entries_.pop_back();
  }
}

void topic_state::begin_drain() {
  fan_out();
  draining_ = true;
  for (std::size_t i = 0; i < entries_.size();) {
    auto& e = entries_[i];
    if (!e.started) {
      // Headers may be out already, but delivery never began: nothing of
      // ours is buffered for it.
      e.sub->fail(rt::call_status::from_cancel(rt::cancel_reason::shutting_down));
      e = std::move(entries_.back());
      entries_.pop_back();
      continue;
    }
    if (!e.waiting && !advance(e, false)) {
      e = std::move(entries_.back());
      entries_.pop_back();
      continue;
    }
    ++i;
  }
}

topic_state::entry* topic_state::find(std::uint64_t sub_id) {
  for (auto& e : entries_)
    if (e.sub->id() == sub_id)
      return &e;
  return nullptr;
}

void topic_state::erase(std::uint64_t sub_id) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].sub->id() == sub_id) {
      entries_[i] = std::move(entries_.back());
      entries_.pop_back();
      return;
    }
  }
}

bool topic_state::advance(entry& e, bool live) {
  // Counted once per call, not per event: one atomic add for a whole batch.
  struct tally {
    const topic_counters& to;
    bool live;
    std::uint64_t n = 0;
    ~tally() {
      bump(to.delivered, n);
      if (!live)
        bump(to.replayed, n);
    }
  } delivered{counters_, live};
  while (e.next <= ring_.last_seq()) {
    const auto* event = ring_.find(e.next);
    if (event == nullptr) {
      e.sub->cut_off("subscriber too slow: it fell behind the " + std::to_string(ring_.capacity())
                     + " events topic '" + name()
                     + "' retains (fanin.retention) while catching up");
      return false;
    }
    switch (e.sub->deliver(e.slot, *event, live)) {
      case subscription::outcome::accepted:
        ++e.next;
        ++delivered.n;
        break;
      case subscription::outcome::full:
        e.waiting = true;
        e.sub->wait_writable(e.slot);
        return true;
      case subscription::outcome::ended:
        return false;
    }
  }
  if (draining_ && !e.drained) {
    e.drained = true;
    e.sub->drained(e.slot);
  }
  return true;
}

} // namespace troupe::fanin
