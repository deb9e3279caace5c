#include "fanin/producer_thread.hpp"

#include <algorithm>
#include <thread>

#include <grpc/support/time.h>

#include "grpc_client.hpp"
#include "process.hpp"

namespace troupe::loadgen {

namespace {

using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;

// Below this wait an open-loop producer thread stops trusting queue timeouts
// (gRPC rounds them to whole milliseconds), as in the kv driver, and sleeps
// precisely instead. Events closer together than fine_step are released in
// batches: at tens of thousands of events/s, a wake-up per event would cost
// the client more CPU than the server spends on them. An event can start up
// to fine_step late; that shows in "start lag" and counts as latency.
constexpr ns fine_wait = std::chrono::microseconds(2500);
constexpr ns fine_step = std::chrono::microseconds(250);
// Longest a producer thread sleeps on its queue before looking at the clock
// and the stop flag again.
constexpr ns max_wait = std::chrono::milliseconds(100);

} // namespace

bool producer_thread::sending_over(steady::time_point now) const {
  if (stop_.load(std::memory_order_relaxed))
    return true;
  if (open_loop())
    return scheduling_over_;
  if (count_mode())
    return tickets_.load(std::memory_order_relaxed) <= 0;
  return now >= clock_.end;
}

bool producer_thread::backlogs_empty() const {
  for (const auto& s : streams_)
    if (!s->backlog.empty())
      return false;
  return true;
}

void producer_thread::drop_backlog(producer_stream& s) {
  totals.unsent += s.backlog.size();
  s.backlog.clear();
}

void producer_thread::advance(producer_stream& s, steady::time_point now) {
  if (open_loop()) {
    // A count run writes every event it scheduled; a duration run drops
    // what is still waiting when time is up (reported as unsent).
    bool may_write =
      !stop_.load(std::memory_order_relaxed) && (count_mode() || !scheduling_over_);
    if (!s.backlog.empty() && may_write) {
      auto due = s.backlog.front();
      s.backlog.pop_front();
      if (due >= clock_.measure_start_unix)
        totals.start_lag.record(
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, clock_.unix_of(now) - due)));
      s.write(due, now);
      return;
    }
    if (scheduling_over_ || stop_.load(std::memory_order_relaxed)) {
      drop_backlog(s);
      s.close();
    }
    return;
  }
  if (sending_over(now)) {
    s.close();
    return;
  }
  if (count_mode() && tickets_.fetch_sub(1, std::memory_order_relaxed) <= 0) {
    s.close();
    return;
  }
  s.write(clock_.unix_of(now), now);
}

void producer_thread::on_event(producer_stream& s, bool ok) {
  auto now = steady::now();
  switch (s.current()) {
    case producer_stream::state::starting:
      if (!ok) {
        drop_backlog(s);
        s.finish();
        return;
      }
      s.idle();
      advance(s, now);
      return;
    case producer_stream::state::writing:
      if (!ok) {
        // The server ended the stream; Finish says how.
        drop_backlog(s);
        s.finish();
        return;
      }
      ++totals.published;
      published_so_far.store(totals.published, std::memory_order_relaxed);
      if (s.sent() >= clock_.measure_start && s.sent() <= clock_.end)
        ++totals.published_in_window;
      s.idle();
      advance(s, now);
      return;
    case producer_stream::state::closing:
      s.finish();
      return;
    case producer_stream::state::finishing:
      s.done();
      count_status(totals.status, static_cast<int>(s.status().error_code()));
      if (auto n = s.accepted()) {
        totals.accepted += *n;
        accepted_per_topic[s.topic] += *n;
      } else {
        ++totals.accepted_unknown;
      }
      --live_;
      return;
    case producer_stream::state::ready:
    case producer_stream::state::done:
      return;
  }
}

void producer_thread::end_scheduling() {
  scheduling_over_ = true;
  auto now = steady::now();
  for (auto& s : streams_)
    if (s->current() == producer_stream::state::ready)
      advance(*s, now);
}

void producer_thread::schedule_due(steady::time_point now) {
  while (!scheduling_over_) {
    bool over = stop_.load(std::memory_order_relaxed) || (count_mode() && next_ >= share_.quota)
                || (!count_mode() && scheduled(next_) >= clock_.end);
    if (over) {
      end_scheduling();
      return;
    }
    auto due = scheduled(next_);
    if (due > now)
      return;
    auto& s = *streams_[next_ % streams_.size()];
    ++next_;
    if (s.ended()) {
      ++totals.unsent;
      continue;
    }
    s.backlog.push_back(clock_.unix_of(due));
    if (s.current() == producer_stream::state::ready)
      advance(s, now);
  }
}

void producer_thread::give_up_if_stuck(steady::time_point now) {
  if (over_since_ == steady::time_point::max() && sending_over(now) && backlogs_empty())
    over_since_ = now;
  if (cancelled_ || now - over_since_ <= std::chrono::milliseconds(o_.deadline_ms))
    return;
  cancelled_ = true;
  for (auto& s : streams_) {
    s->cancel();
    // Nothing in flight means no event would ever come for it.
    if (s->current() == producer_stream::state::ready)
      s->finish();
  }
}

grpc::CompletionQueue::NextStatus producer_thread::wait_for_event(steady::time_point now,
                                                                  void*& tag, bool& ok) {
  bool scheduling = open_loop() && !scheduling_over_;
  auto wait = max_wait;
  if (scheduling)
    wait = std::min<ns>(wait, std::chrono::duration_cast<ns>(scheduled(next_) - now));
  else if (!open_loop() && !count_mode() && now < clock_.end)
    wait = std::min<ns>(wait, std::chrono::duration_cast<ns>(clock_.end - now));
  if (scheduling && wait < fine_wait) {
    // Only an infinitely past deadline really polls.
    auto r = cq_.AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
    if (r != grpc::CompletionQueue::GOT_EVENT) {
      auto left = std::chrono::duration_cast<ns>(scheduled(next_) - steady::now());
      if (left.count() > 0)
        std::this_thread::sleep_for(std::max<ns>(left, fine_step));
    }
    return r;
  }
  auto coarse = std::max<ns>(ns(0), wait - (open_loop() ? fine_wait : ns(0)));
  auto deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                               gpr_time_from_nanos(coarse.count(), GPR_TIMESPAN));
  auto r = cq_.AsyncNext(&tag, &ok, deadline);
  // Closed loop: time is up, streams between writes close now.
  if (r == grpc::CompletionQueue::TIMEOUT && !open_loop() && sending_over(steady::now()))
    for (auto& s : streams_)
      if (s->current() == producer_stream::state::ready)
        s->close();
  return r;
}

void producer_thread::run() {
  tighten_timer_slack();
  accepted_per_topic.assign(static_cast<std::size_t>(o_.topics), 0);
  for (auto& s : streams_)
    s->start(&cq_);
  live_ = streams_.size();
  while (live_ > 0) {
    auto now = steady::now();
    if (open_loop() && !scheduling_over_)
      schedule_due(now);
    give_up_if_stuck(now);
    void* tag = nullptr;
    bool ok = false;
    auto r = wait_for_event(now, tag, ok);
    if (r == grpc::CompletionQueue::SHUTDOWN)
      break;
    if (r == grpc::CompletionQueue::GOT_EVENT)
      on_event(*static_cast<producer_stream*>(tag), ok);
  }
  shut_down_and_drain(cq_);
}

} // namespace troupe::loadgen
