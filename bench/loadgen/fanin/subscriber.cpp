#include "fanin/subscriber.hpp"

#include <algorithm>
#include <thread>

#include "fanin/trailers.hpp"

namespace troupe::loadgen {

namespace v1 = troupe::fanin::v1;
using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;

subscriber::subscriber(const std::shared_ptr<grpc::Channel>& channel,
                       const std::vector<std::string>& topics, std::size_t producers, double rate,
                       const run_clock& clock, start_gate& gate)
  : stub_(v1::FanIn::NewStub(channel)),
    topics_(topics),
    rate_(rate),
    gate_(gate),
    ledger_(topics, producers, clock) {}

void subscriber::start(grpc::CompletionQueue* cq) {
  cq_ = cq;
  v1::SubscribeRequest req;
  for (const auto& t : topics_)
    req.add_topics(t);
  for (const auto& [t, seq] : start_after_)
    (*req.mutable_start_after())[t] = seq;
  {
    std::lock_guard<std::mutex> guard{ctx_mtx_};
    reader_.reset();
    ctx_ = std::make_unique<grpc::ClientContext>();
    if (stopping_)
      ctx_->TryCancel();
    reader_ = stub_->PrepareAsyncSubscribe(ctx_.get(), req, cq_);
  }
  state_ = state::subscribing;
  reader_->StartCall(&call_tag_);
}

void subscriber::resume() {
  if (state_ == state::parked) {
    next_read_ = steady::now();
    read();
  }
}

void subscriber::stop() {
  std::lock_guard<std::mutex> guard{ctx_mtx_};
  stopping_ = true;
  if (ctx_)
    ctx_->TryCancel();
  if (alarm_set_)
    alarm_.Cancel();
}

resubscribe_counts subscriber::resubscribes() const {
  auto c = resubscribes_;
  c.cutoffs = cutoffs_.load(std::memory_order_relaxed);
  return c;
}

void subscriber::read() {
  state_ = state::reading;
  reader_->Read(&event_, &call_tag_);
}

void subscriber::pace_or_read() {
  if (rate_ > 0) {
    auto interval = ns(static_cast<std::int64_t>(1e9 / rate_));
    next_read_ += interval;
    auto now = steady::now();
    // A fixed pace: after a stall it catches up for a few reads at most,
    // not in one burst.
    if (now - next_read_ > 4 * interval)
      next_read_ = now;
    if (next_read_ > now) {
      std::lock_guard<std::mutex> guard{ctx_mtx_};
      if (!stopping_) {
        state_ = state::pausing;
        alarm_set_ = true;
        alarm_.Set(cq_,
                   std::chrono::system_clock::now()
                     + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                       next_read_ - now),
                   &alarm_tag_);
        return;
      }
    }
  }
  read();
}

void subscriber::finish() {
  state_ = state::finishing;
  reader_->Finish(&status_, &call_tag_);
}

bool subscriber::on_event(bool ok, bool alarm) {
  if (alarm) {
    {
      std::lock_guard<std::mutex> guard{ctx_mtx_};
      alarm_set_ = false;
    }
    // Cancelled alarms come back too: the read then fails if the call was.
    read();
    return false;
  }
  switch (state_) {
    case state::subscribing:
      if (!ok) {
        finish();
        return false;
      }
      state_ = state::headers;
      reader_->ReadInitialMetadata(&call_tag_);
      return false;
    case state::headers:
      // The headers mean "registered": every event accepted from now on will
      // reach this call. Producers start once every subscriber has them.
      if (first_) {
        first_ = false;
        gate_.ready();
      }
      if (!ok) {
        finish();
        return false;
      }
      state_ = state::parked;
      if (gate_.is_open())
        resume();
      return false;
    case state::reading:
      if (!ok) {
        finish();
        return false;
      }
      ledger_.take(event_.topic(), event_.seq(), event_.payload());
      if (ledger_.complete()) {
        ended_by_us_ = true;
        {
          std::lock_guard<std::mutex> guard{ctx_mtx_};
          ctx_->TryCancel();
        }
        finish();
        return false;
      }
      pace_or_read();
      return false;
    case state::finishing:
      return finished();
    case state::parked:
    case state::pausing:
    case state::done:
      return false;
  }
  return false;
}

bool subscriber::finished() {
  bool stopping = false;
  {
    std::lock_guard<std::mutex> guard{ctx_mtx_};
    stopping = stopping_;
  }
  if (first_) {
    first_ = false;
    gate_.ready(); // never registered: the run must not wait for it
  }
  auto code = status_.error_code();
  if (ended_by_us_ || stopping) {
    state_ = state::done;
    return true;
  }
  count_status(resubscribes_.status, static_cast<int>(code));
  if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    resubscribe_after_cutoff();
    return false;
  }
  if (code == grpc::StatusCode::OUT_OF_RANGE && !start_after_.empty()) {
    // Fell out of retention while catching up: what was lost shows as a gap
    // at the next event; carry on live.
    ++resubscribes_.out_of_range;
    start_after_.clear();
    ++resubscribes_.resubscribes;
    start(cq_);
    return false;
  }
  state_ = state::done;
  return true;
}

void subscriber::resubscribe_after_cutoff() {
  // Cut off (or shed): resume right after what the server says this call
  // got. Where it says nothing, resume after what arrived here.
  cutoffs_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    auto said = trailer_u64(*ctx_, last_seq_key(topics_[i]));
    if (said && *said != ledger_.last_seen(i))
      ++resubscribes_.trailer_mismatches;
    start_after_[topics_[i]] = said.value_or(ledger_.last_seen(i));
  }
  if (auto pushback = trailer_u64(*ctx_, "grpc-retry-pushback-ms"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::uint64_t>(*pushback, 100)));
  ++resubscribes_.resubscribes;
  start(cq_);
}

} // namespace troupe::loadgen
