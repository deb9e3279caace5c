#include "fanin/fanin_bench.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/prctl.h>
#include <unistd.h>

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "report_format.hpp"
#include "histogram.hpp"
#include "process.hpp"
#include "troupe/cli/json.hpp"
#include "driver/run_stats.hpp"
#include "troupe/fanin/v1/fanin.grpc.pb.h"

namespace troupe::loadgen {

using cli::json_number;
using cli::json_string;

namespace {

namespace v1 = troupe::fanin::v1;
using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;

// Every payload starts with when it was (meant to be) sent, which producer
// sent it and that producer's counter: the subscriber measures latency on
// the same machine clock and checks each producer's order.
constexpr std::size_t stamp_bytes = 20;

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

struct stamp {
  std::int64_t sent_unix_ns = 0;
  std::uint32_t producer = 0;
  std::uint64_t counter = 0;
};

void write_stamp(std::string& payload, const stamp& s) {
  std::memcpy(payload.data(), &s.sent_unix_ns, 8);
  std::memcpy(payload.data() + 8, &s.producer, 4);
  std::memcpy(payload.data() + 12, &s.counter, 8);
}

bool read_stamp(const std::string& payload, stamp& s) {
  if (payload.size() < stamp_bytes)
    return false;
  std::memcpy(&s.sent_unix_ns, payload.data(), 8);
  std::memcpy(&s.producer, payload.data() + 8, 4);
  std::memcpy(&s.counter, payload.data() + 12, 8);
  return true;
}

std::int64_t unix_nanos_now() {
  return std::chrono::duration_cast<ns>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// The server names each topic's resume point in a trailer; header names are
// lowercase on the wire.
std::string last_seq_key(const std::string& topic) {
  std::string key = "troupe-last-seq-";
  for (char c : topic)
    key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return key;
}

void count_status(status_counts& counts, grpc::StatusCode code) {
  auto i = static_cast<std::size_t>(code);
  ++counts[i < counts.size() ? i : 2];
}

std::optional<std::uint64_t> trailer_u64(const grpc::ClientContext& ctx, const std::string& key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  if (it == md.end())
    return std::nullopt;
  std::string v(it->second.data(), it->second.size());
  char* end = nullptr;
  auto n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0')
    return std::nullopt;
  return n;
}

/// The clocks every thread agrees on, fixed before anything is published.
struct run_clock {
  steady::time_point t0;
  steady::time_point measure_start;
  steady::time_point end; // duration runs: publishing stops; count runs: max()
  std::int64_t unix0 = 0;
  std::int64_t measure_start_unix = 0;

  std::int64_t unix_of(steady::time_point t) const {
    return unix0 + std::chrono::duration_cast<ns>(t - t0).count();
  }
};

/// Subscribers report "registered" (headers received) here; they read
/// nothing until the run's base seqs and clock are fixed and the gate opens.
class start_gate {
public:
  explicit start_gate(int expected) : expected_(expected) {}
  void ready() {
    std::lock_guard<std::mutex> guard{mtx_};
    ++ready_;
    cv_.notify_all();
  }
  bool wait_ready(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mtx_);
    return cv_.wait_for(lk, timeout, [&] { return ready_ >= expected_; });
  }
  void open() { open_.store(true, std::memory_order_release); }
  bool is_open() const { return open_.load(std::memory_order_acquire); }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  int expected_;
  int ready_ = 0;
  std::atomic<bool> open_{false};
};

// ---------------------------------------------------------------- subscribers

class subscriber;

/// A queue tag: the subscriber, and whether it is its pacing alarm.
struct subscriber_tag {
  subscriber* owner;
  bool alarm;
};

/// One Subscribe stream, resubscribed after a cut-off, on a subscriber
/// thread's completion queue: it checks every seq and each producer's order,
/// and reads at --subscriber-rate if set. Subscribers share a few threads
/// (--subscriber-threads) rather than having one each: a thread per stream
/// cost the client more in context switches than in reading.
class subscriber {
public:
  subscriber(const std::shared_ptr<grpc::Channel>& channel, const std::vector<std::string>& topics,
             std::size_t producers, const options& o, const run_clock& clock, start_gate& gate)
    : stub_(v1::FanIn::NewStub(channel)),
      topics_(topics),
      rate_(o.subscriber_rate),
      clock_(clock),
      gate_(gate),
      last_seen_(topics.size(), 0),
      progress_seen_(topics.size()),
      targets_(topics.size()),
      next_counter_(producers, 0) {
    for (std::size_t i = 0; i < topics_.size(); ++i)
      topic_index_.emplace(topics_[i], i);
    for (auto& v : progress_seen_)
      v.store(0, std::memory_order_relaxed);
  }

  // On the subscriber thread.
  void start(grpc::CompletionQueue* cq);
  /// Starts reading once the gate opened; for subscribers parked on it.
  void resume();
  /// One completion; true when the subscriber just finished for good.
  bool on_event(bool ok, bool alarm);

  // From the main thread.
  /// Before the gate opens: the topics' last seq when publishing began.
  void set_base(const std::vector<std::uint64_t>& base) {
    for (std::size_t i = 0; i < base.size(); ++i) {
      last_seen_[i] = base[i];
      progress_seen_[i].store(base[i], std::memory_order_relaxed);
    }
  }
  /// Every topic's last accepted seq: once it has them all, the subscriber
  /// ends its call itself.
  void set_targets(const std::vector<std::uint64_t>& targets) {
    for (std::size_t i = 0; i < targets.size(); ++i)
      targets_[i].store(targets[i], std::memory_order_relaxed);
    have_targets_.store(true, std::memory_order_release);
  }
  bool complete() const {
    if (!have_targets_.load(std::memory_order_acquire))
      return false;
    for (std::size_t i = 0; i < topics_.size(); ++i)
      if (progress_seen_[i].load(std::memory_order_relaxed)
          < targets_[i].load(std::memory_order_relaxed))
        return false;
    return true;
  }
  /// Ends the call in progress and any resubscribing.
  void stop() {
    std::lock_guard<std::mutex> guard{ctx_mtx_};
    stopping_ = true;
    if (ctx_)
      ctx_->TryCancel();
    if (alarm_set_)
      alarm_.Cancel();
  }
  std::uint64_t delivered_so_far() const { return delivered_.load(std::memory_order_relaxed); }
  std::uint64_t cutoffs_so_far() const { return cutoffs_.load(std::memory_order_relaxed); }

  // Read once the subscriber threads are joined.
  std::uint64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }
  std::uint64_t cutoffs() const { return cutoffs_.load(std::memory_order_relaxed); }
  std::uint64_t missing() const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      auto t = targets_[i].load(std::memory_order_relaxed);
      if (t > last_seen_[i])
        n += t - last_seen_[i];
    }
    return n;
  }
  std::uint64_t in_window = 0;
  std::uint64_t gaps = 0;
  std::uint64_t dups = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t foreign = 0; // events this run did not publish
  std::uint64_t resubscribes = 0;
  std::uint64_t out_of_range = 0;
  std::uint64_t trailer_mismatches = 0;
  status_counts status{};
  latency_histogram latency;
  steady::time_point last_delivery{};

private:
  enum class state { subscribing, headers, parked, reading, pausing, finishing, done };

  void read();
  void finish();
  bool finished();
  void take(const v1::Event& e);

  std::unique_ptr<v1::FanIn::Stub> stub_;
  const std::vector<std::string> topics_;
  std::unordered_map<std::string, std::size_t> topic_index_;
  const double rate_;
  const run_clock& clock_;
  start_gate& gate_;
  grpc::CompletionQueue* cq_ = nullptr;
  subscriber_tag call_tag_{this, false};
  subscriber_tag alarm_tag_{this, true};

  state state_ = state::subscribing;
  bool first_ = true;
  bool ended_by_us_ = false; // it had everything and cancelled its own call
  std::map<std::string, std::uint64_t> start_after_;
  std::unique_ptr<grpc::ClientAsyncReader<v1::Event>> reader_;
  v1::Event event_;
  grpc::Status status_;
  grpc::Alarm alarm_;
  steady::time_point next_read_{};

  std::vector<std::uint64_t> last_seen_;                  // per topic, subscriber thread only
  std::vector<std::atomic<std::uint64_t>> progress_seen_; // the same, for other threads
  std::vector<std::atomic<std::uint64_t>> targets_;
  std::atomic<bool> have_targets_{false};
  std::vector<std::uint64_t> next_counter_; // per producer
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> cutoffs_{0};

  // The call's context is replaced on each resubscribe while stop() may
  // cancel it from the main thread.
  std::mutex ctx_mtx_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  bool alarm_set_ = false;
  bool stopping_ = false;
};

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

void subscriber::read() {
  state_ = state::reading;
  reader_->Read(&event_, &call_tag_);
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
    case state::reading: {
      if (!ok) {
        finish();
        return false;
      }
      take(event_);
      if (complete()) {
        ended_by_us_ = true;
        {
          std::lock_guard<std::mutex> guard{ctx_mtx_};
          ctx_->TryCancel();
        }
        finish();
        return false;
      }
      if (rate_ > 0) {
        auto interval = ns(static_cast<std::int64_t>(1e9 / rate_));
        next_read_ += interval;
        auto now = steady::now();
        // A fixed pace: after a stall it catches up for a few reads at
        // most, not in one burst.
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
            return false;
          }
        }
      }
      read();
      return false;
    }
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
  count_status(status, code);
  if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    // Cut off (or shed): resume right after what the server says this call
    // got. Where it says nothing, resume after what arrived here.
    cutoffs_.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      auto said = trailer_u64(*ctx_, last_seq_key(topics_[i]));
      if (said && *said != last_seen_[i])
        ++trailer_mismatches;
      start_after_[topics_[i]] = said.value_or(last_seen_[i]);
    }
    if (auto pushback = trailer_u64(*ctx_, "grpc-retry-pushback-ms"))
      std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min<std::uint64_t>(*pushback, 100)));
    ++resubscribes;
    start(cq_);
    return false;
  }
  if (code == grpc::StatusCode::OUT_OF_RANGE && !start_after_.empty()) {
    // Fell out of retention while catching up: what was lost shows as a gap
    // at the next event; carry on live.
    ++out_of_range;
    start_after_.clear();
    ++resubscribes;
    start(cq_);
    return false;
  }
  state_ = state::done;
  return true;
}

void subscriber::take(const v1::Event& e) {
  auto it = topic_index_.find(e.topic());
  if (it == topic_index_.end()) {
    ++foreign;
    return;
  }
  auto ti = it->second;
  auto seq = e.seq();
  auto& last = last_seen_[ti];
  if (seq <= last) {
    ++dups;
    return;
  }
  if (seq > last + 1)
    gaps += seq - last - 1;
  last = seq;
  progress_seen_[ti].store(seq, std::memory_order_relaxed);
  delivered_.fetch_add(1, std::memory_order_relaxed);
  auto now = steady::now();
  last_delivery = now;
  if (now >= clock_.measure_start && now <= clock_.end)
    ++in_window;
  stamp st;
  if (!read_stamp(e.payload(), st) || st.producer >= next_counter_.size()) {
    ++foreign;
    return;
  }
  auto& next = next_counter_[st.producer];
  if (st.counter < next)
    ++order_errors;
  else
    next = st.counter + 1;
  // Both ends read the same steady clock (one process), so the latency is
  // immune to wall-clock adjustments during the run.
  if (st.sent_unix_ns >= clock_.measure_start_unix)
    latency.record(static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, clock_.unix_of(now) - st.sent_unix_ns)));
}

/// A completion queue, the subscribers on it and one thread.
class subscriber_worker {
public:
  explicit subscriber_worker(start_gate& gate) : gate_(gate) {}
  subscriber* add(std::unique_ptr<subscriber> s) {
    subs_.push_back(std::move(s));
    return subs_.back().get();
  }
  void run() {
    prctl(PR_SET_TIMERSLACK, 1000UL);
    for (auto& s : subs_)
      s->start(&cq_);
    auto live = subs_.size();
    bool resumed = false;
    while (live > 0) {
      if (!resumed && gate_.is_open()) {
        resumed = true;
        for (auto& s : subs_)
          s->resume();
      }
      void* tag = nullptr;
      bool ok = false;
      auto wait = resumed ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2);
      auto r = cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + wait);
      if (r == grpc::CompletionQueue::SHUTDOWN)
        break;
      if (r != grpc::CompletionQueue::GOT_EVENT)
        continue;
      auto* t = static_cast<subscriber_tag*>(tag);
      if (t->owner->on_event(ok, t->alarm))
        --live;
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

private:
  start_gate& gate_;
  grpc::CompletionQueue cq_; // outlives the subscribers' calls and alarms
  std::vector<std::unique_ptr<subscriber>> subs_;
};

// ------------------------------------------------------------------ producers

struct producer_totals {
  std::uint64_t published = 0;           // writes the client completed
  std::uint64_t published_in_window = 0;
  std::uint64_t unsent = 0;              // open loop: scheduled, never written
  std::uint64_t accepted = 0;            // the server's counts
  std::uint64_t accepted_unknown = 0;    // streams that ended without a count
  status_counts status{};
  latency_histogram start_lag;

  void merge(const producer_totals& o) {
    published += o.published;
    published_in_window += o.published_in_window;
    unsent += o.unsent;
    accepted += o.accepted;
    accepted_unknown += o.accepted_unknown;
    for (std::size_t i = 0; i < status.size(); ++i)
      status[i] += o.status[i];
    start_lag.merge(o.start_lag);
  }
};

class producer_worker;

/// One Publish stream; one operation of it is in flight at a time, so the
/// queue tag is the stream itself.
class producer_stream {
public:
  producer_stream(std::uint32_t index, std::size_t topic, const std::string& topic_name,
                  std::size_t value_bytes, const std::shared_ptr<grpc::Channel>& channel)
    : index(index), topic(topic), stub_(v1::FanIn::NewStub(channel)) {
    req_.set_topic(topic_name);
    req_.set_producer("p" + std::to_string(index));
    std::string payload(value_bytes, 'x');
    for (std::size_t i = stamp_bytes; i < value_bytes; ++i)
      payload[i] = static_cast<char>('a' + i % 26);
    req_.set_payload(std::move(payload));
  }

  enum class state { starting, ready, writing, closing, finishing, done };

  void start(grpc::CompletionQueue* cq) {
    writer_ = stub_->PrepareAsyncPublish(&ctx_, &resp_, cq);
    state_ = state::starting;
    writer_->StartCall(this);
  }
  void write(std::int64_t sent_unix_ns, steady::time_point sent) {
    write_stamp(*req_.mutable_payload(), stamp{sent_unix_ns, index, counter_++});
    sent_ = sent;
    state_ = state::writing;
    writer_->Write(req_, this);
  }
  void close() {
    state_ = state::closing;
    writer_->WritesDone(this);
  }
  void finish() {
    state_ = state::finishing;
    writer_->Finish(&status_, this);
  }
  void cancel() { ctx_.TryCancel(); }
  void idle() { state_ = state::ready; }
  void done() { state_ = state::done; }
  /// Closing or closed: it writes nothing more.
  bool ended() const {
    return state_ == state::closing || state_ == state::finishing || state_ == state::done;
  }

  /// What the server said it accepted, if it said.
  std::optional<std::uint64_t> accepted() const {
    if (status_.ok())
      return resp_.accepted();
    return trailer_u64(ctx_, "troupe-accepted");
  }

  state current() const { return state_; }
  steady::time_point sent() const { return sent_; }
  const grpc::Status& status() const { return status_; }

  const std::uint32_t index;
  const std::size_t topic;
  std::deque<std::int64_t> backlog; // open loop: due send times (unix ns) waiting

private:
  std::unique_ptr<v1::FanIn::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientAsyncWriter<v1::PublishRequest>> writer_;
  v1::PublishRequest req_;
  v1::PublishResponse resp_;
  grpc::Status status_;
  state state_ = state::starting;
  std::uint64_t counter_ = 0;
  steady::time_point sent_{};
};

/// A completion queue, its producers' streams and one thread. Closed loop:
/// each stream writes again as soon as its last write completed (gRPC holds
/// a write until flow control lets it go). Open loop: the thread's share of
/// --rate is laid out on a fixed schedule, round robin over its streams; an
/// event due while its stream is still busy waits in that stream's backlog,
/// keeping its due time, so the wait counts as latency.
class producer_worker {
public:
  producer_worker(const options& o, const run_clock& clock, std::atomic<bool>& stop,
                  std::atomic<std::int64_t>& tickets, double rate, double phase,
                  std::uint64_t quota)
    : o_(o), clock_(clock), stop_(stop), tickets_(tickets), rate_(rate), phase_(phase),
      quota_(quota) {}

  void add(std::unique_ptr<producer_stream> s) { streams_.push_back(std::move(s)); }
  void run();

  producer_totals totals;
  std::vector<std::uint64_t> accepted_per_topic;
  std::atomic<std::uint64_t> published_so_far{0};

private:
  steady::time_point scheduled(std::uint64_t k) const {
    auto offset = (static_cast<double>(k) + phase_) * 1e9 / rate_;
    return clock_.t0 + ns(static_cast<std::int64_t>(offset));
  }
  bool open_loop() const { return o_.open_loop(); }
  bool count_mode() const { return o_.count > 0; }
  /// No more events will be started: time is up, the count is reached or
  /// the run was interrupted.
  bool sending_over(steady::time_point now) const;
  /// A stream with nothing in flight: write, close or wait.
  void advance(producer_stream& s, steady::time_point now);
  void on_event(producer_stream& s, bool ok);
  void end_scheduling();
  bool backlogs_empty() const {
    for (const auto& s : streams_)
      if (!s->backlog.empty())
        return false;
    return true;
  }

  const options& o_;
  const run_clock& clock_;
  std::atomic<bool>& stop_;
  std::atomic<std::int64_t>& tickets_; // closed loop with --count
  double rate_;
  double phase_;
  std::uint64_t quota_; // open loop with --count
  steady::time_point over_since_ = steady::time_point::max();
  std::uint64_t next_ = 0; // open loop: next schedule index
  bool scheduling_over_ = false;
  std::size_t live_ = 0;
  grpc::CompletionQueue cq_; // outlives the streams bound to it
  std::vector<std::unique_ptr<producer_stream>> streams_;
};

bool producer_worker::sending_over(steady::time_point now) const {
  if (stop_.load(std::memory_order_relaxed))
    return true;
  if (open_loop())
    return scheduling_over_;
  if (count_mode())
    return tickets_.load(std::memory_order_relaxed) <= 0;
  return now >= clock_.end;
}

void producer_worker::advance(producer_stream& s, steady::time_point now) {
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
      totals.unsent += s.backlog.size();
      s.backlog.clear();
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

void producer_worker::on_event(producer_stream& s, bool ok) {
  auto now = steady::now();
  switch (s.current()) {
    case producer_stream::state::starting:
      if (!ok) {
        totals.unsent += s.backlog.size();
        s.backlog.clear();
        s.finish();
        return;
      }
      s.idle();
      advance(s, now);
      return;
    case producer_stream::state::writing:
      if (!ok) {
        // The server ended the stream; Finish says how.
        totals.unsent += s.backlog.size();
        s.backlog.clear();
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
    case producer_stream::state::finishing: {
      s.done();
      count_status(totals.status, s.status().error_code());
      if (auto n = s.accepted()) {
        totals.accepted += *n;
        accepted_per_topic[s.topic] += *n;
      } else {
        ++totals.accepted_unknown;
      }
      --live_;
      return;
    }
    case producer_stream::state::ready:
    case producer_stream::state::done:
      return;
  }
}

void producer_worker::end_scheduling() {
  scheduling_over_ = true;
  auto now = steady::now();
  for (auto& s : streams_)
    if (s->current() == producer_stream::state::ready)
      advance(*s, now);
}

void producer_worker::run() {
  // The default 50 us of slack would land every open-loop write late.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  accepted_per_topic.assign(static_cast<std::size_t>(o_.topics), 0);
  for (auto& s : streams_)
    s->start(&cq_);
  live_ = streams_.size();
  bool cancelled = false;
  while (live_ > 0) {
    auto now = steady::now();
    if (open_loop() && !scheduling_over_) {
      while (!scheduling_over_) {
        bool over = stop_.load(std::memory_order_relaxed) || (count_mode() && next_ >= quota_)
                    || (!count_mode() && scheduled(next_) >= clock_.end);
        if (over) {
          end_scheduling();
          break;
        }
        auto due = scheduled(next_);
        if (due > now)
          break;
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
    if (over_since_ == steady::time_point::max() && sending_over(now) && backlogs_empty())
      over_since_ = now;
    if (!cancelled && now - over_since_ > std::chrono::milliseconds(o_.deadline_ms)) {
      // Publishing is over but the server has not taken our last writes and
      // closes within --deadline-ms: give up on them.
      cancelled = true;
      for (auto& s : streams_) {
        s->cancel();
        // Nothing in flight means no event would ever come for it.
        if (s->current() == producer_stream::state::ready)
          s->finish();
      }
    }
    void* tag = nullptr;
    bool ok = false;
    auto wait = max_wait;
    if (open_loop() && !scheduling_over_)
      wait = std::min<ns>(wait, std::chrono::duration_cast<ns>(scheduled(next_) - now));
    else if (!open_loop() && !count_mode() && now < clock_.end)
      wait = std::min<ns>(wait, std::chrono::duration_cast<ns>(clock_.end - now));
    if (open_loop() && !scheduling_over_ && wait < fine_wait) {
      auto r = cq_.AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
      if (r != grpc::CompletionQueue::GOT_EVENT) {
        auto left = std::chrono::duration_cast<ns>(scheduled(next_) - steady::now());
        if (left.count() > 0)
          std::this_thread::sleep_for(std::max<ns>(left, fine_step));
        continue;
      }
    } else {
      auto coarse = std::max<ns>(ns(0), wait - (open_loop() ? fine_wait : ns(0)));
      auto deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                   gpr_time_from_nanos(coarse.count(), GPR_TIMESPAN));
      auto r = cq_.AsyncNext(&tag, &ok, deadline);
      if (r == grpc::CompletionQueue::SHUTDOWN)
        break;
      if (r != grpc::CompletionQueue::GOT_EVENT) {
        // Closed loop: time is up, streams between writes close now.
        if (!open_loop() && sending_over(steady::now()))
          for (auto& s : streams_)
            if (s->current() == producer_stream::state::ready)
              s->close();
        continue;
      }
    }
    on_event(*static_cast<producer_stream*>(tag), ok);
  }
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

// ---------------------------------------------------------------------- run

std::shared_ptr<grpc::Channel> make_channel(const options& o, const std::string& role, int i,
                                            bool small_window) {
  grpc::ChannelArguments args;
  // A private subchannel pool plus an argument unique to the channel: each
  // channel is its own TCP connection, as separate clients would be.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString("troupe.bench.connection", role + std::to_string(i));
  // gRPC keeps every message a client stream sends, for a transparent
  // retry, until the stream has sent grpc.per_rpc_retry_buffer_size
  // (256 KiB); then it frees them all at once. With 50 producers crossing
  // that mark together (~2,150 events into each stream), the free stalled
  // the producer thread for 25-35 ms in the middle of every run, which
  // showed as publish latency of whichever server was measured.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // A paced reader should look slow to the server: without this, BDP
  // probing grows the window until megabytes wait unread in this process.
  if (small_window)
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  return grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args);
}

bool wait_connected(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                    std::chrono::milliseconds timeout) {
  for (auto& ch : channels)
    ch->GetState(true);
  auto until = std::chrono::system_clock::now() + timeout;
  bool all = true;
  for (auto& ch : channels)
    all = ch->WaitForConnected(until) && all;
  return all;
}

/// Each topic's last seq, 0 for topics not created yet.
std::optional<std::vector<std::uint64_t>> topic_seqs(const std::shared_ptr<grpc::Channel>& ch,
                                                     const std::vector<std::string>& topics,
                                                     long deadline_ms, std::string& error) {
  auto stub = v1::FanIn::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  v1::ListTopicsResponse resp;
  auto st = stub->ListTopics(&ctx, v1::ListTopicsRequest{}, &resp);
  if (!st.ok()) {
    error = std::string("ListTopics: ") + code_name(static_cast<std::size_t>(st.error_code()))
            + ": " + st.error_message();
    return std::nullopt;
  }
  std::vector<std::uint64_t> seqs(topics.size(), 0);
  for (const auto& info : resp.topics())
    for (std::size_t i = 0; i < topics.size(); ++i)
      if (info.name() == topics[i])
        seqs[i] = info.last_seq();
  return seqs;
}

struct fanin_result {
  bool interrupted = false;
  double window_s = 0;  // deliveries counted for the rate
  double publish_s = 0; // writes counted for the publish rate
  cpu_times cpu; // this client's, from the first event to the end
  std::uint64_t delivered = 0;
  std::uint64_t in_window = 0;
  std::uint64_t gaps = 0;
  std::uint64_t dups = 0;
  std::uint64_t missing = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t foreign = 0;
  std::uint64_t cutoffs = 0;
  std::uint64_t resubscribes = 0;
  std::uint64_t out_of_range = 0;
  std::uint64_t trailer_mismatches = 0;
  bool drained = true; // every subscriber got every accepted event in time
  status_counts subscribe_status{};
  latency_histogram latency;
  producer_totals producers;
};

std::string latency_text(const char* label, const latency_histogram& h) {
  return fmt("%-12s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (%llu events)\n", label,
             ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.quantile(0.999)),
             ms(h.max()), static_cast<unsigned long long>(h.count()));
}

double per_s(std::uint64_t n, double s) {
  return s > 0 ? static_cast<double>(n) / s : 0;
}

std::string text_report(const options& o, const fanin_result& r) {
  std::string out;
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  out += fmt("fanin against %s: %d producer%s -> %d topic%s -> %d subscriber%s, %zu-byte "
             "payloads, %s%s\n",
             o.target.c_str(), o.producers, o.producers == 1 ? "" : "s", o.topics,
             o.topics == 1 ? "" : "s", o.subscribers, o.subscribers == 1 ? "" : "s", o.value_bytes,
             o.open_loop() ? fmt("open loop at %.1f events/s", o.rate).c_str() : "closed loop",
             r.interrupted ? " (interrupted)" : "");
  if (o.subscriber_rate > 0)
    out += fmt("%-12s each reads at most %.1f events/s\n", "subscribers", o.subscriber_rate);
  auto expected = r.producers.accepted * static_cast<std::uint64_t>(o.subscribers);
  out += fmt("%-12s %.1f events/s summed over subscribers (%llu in %.3f s)\n", "delivered",
             per_s(r.in_window, r.window_s), u(r.in_window), r.window_s);
  out += fmt("%-12s %.1f events/s (%llu written, %llu accepted%s)\n", "published",
             per_s(r.producers.published_in_window, r.publish_s), u(r.producers.published),
             u(r.producers.accepted),
             r.producers.accepted_unknown
               ? fmt(", %llu streams did not say", u(r.producers.accepted_unknown)).c_str()
               : "");
  out += fmt("%-12s %llu of %llu expected (accepted x subscribers): %llu gaps, %llu duplicates, "
             "%llu missing at the end, %llu out of producer order%s\n",
             "check", u(r.delivered), u(expected), u(r.gaps), u(r.dups), u(r.missing),
             u(r.order_errors),
             r.foreign ? fmt(", %llu events not from this run", u(r.foreign)).c_str() : "");
  out += fmt("%-12s %llu cut-offs, %llu resubscribes (%llu after falling out of retention), "
             "%llu trailer mismatches\n",
             "resubscribe", u(r.cutoffs), u(r.resubscribes), u(r.out_of_range),
             u(r.trailer_mismatches));
  out += fmt("%-12s%s\n", "publish", statuses_text(r.producers.status, "  (none)").c_str());
  out += fmt("%-12s%s\n", "subscribe", statuses_text(r.subscribe_status, "  (none)").c_str());
  if (r.producers.unsent > 0)
    out += fmt("%-12s %llu scheduled events never written: the producers fell behind\n", "unsent",
               u(r.producers.unsent));
  out += latency_text("latency", r.latency);
  if (o.open_loop())
    out += fmt("%-12s p50 %.3f  p99 %.3f  max %.3f ms behind schedule at write\n", "start lag",
               ms(r.producers.start_lag.quantile(0.5)), ms(r.producers.start_lag.quantile(0.99)),
               ms(r.producers.start_lag.max()));
  out += fmt("%-12s %.3f s (user %.3f, system %.3f) = %.2f us per delivered event in this "
             "client\n",
             "cpu", r.cpu.total(), r.cpu.user, r.cpu.system,
             r.delivered ? r.cpu.total() * 1e6 / static_cast<double>(r.delivered) : 0.0);
  return out;
}

std::string json_report(const options& o, const fanin_result& r) {
  auto u = [](std::uint64_t v) { return std::to_string(v); };
  std::string out = "{";
  out += "\"scenario\":" + json_string(o.scenario);
  out += ",\"target\":" + json_string(o.target);
  out += ",\"mode\":" + std::string(o.open_loop() ? "\"open\"" : "\"closed\"");
  out += ",\"rate_target\":" + (o.open_loop() ? json_number(o.rate, 3) : std::string("null"));
  out += ",\"producers\":" + std::to_string(o.producers);
  out += ",\"topics\":" + std::to_string(o.topics);
  out += ",\"subscribers\":" + std::to_string(o.subscribers);
  out += ",\"value_bytes\":" + std::to_string(o.value_bytes);
  out += ",\"subscriber_rate\":"
         + (o.subscriber_rate > 0 ? json_number(o.subscriber_rate, 3) : std::string("null"));
  out += ",\"connections\":" + std::to_string(o.connections);
  out += ",\"threads\":" + std::to_string(o.threads);
  out += ",\"subscriber_threads\":" + std::to_string(o.subscriber_threads);
  out += ",\"interrupted\":" + std::string(r.interrupted ? "true" : "false");
  out += ",\"elapsed_s\":" + json_number(r.window_s, 6);
  out += ",\"rate\":" + json_number(per_s(r.in_window, r.window_s), 3);
  out += ",\"publish_elapsed_s\":" + json_number(r.publish_s, 6);
  out += ",\"publish_rate\":" + json_number(per_s(r.producers.published_in_window, r.publish_s), 3);
  out += ",\"published\":" + u(r.producers.published);
  out += ",\"accepted\":" + u(r.producers.accepted);
  out += ",\"accepted_unknown\":" + u(r.producers.accepted_unknown);
  out += ",\"expected\":" + u(r.producers.accepted * static_cast<std::uint64_t>(o.subscribers));
  out += ",\"delivered\":" + u(r.delivered);
  out += ",\"delivered_in_window\":" + u(r.in_window);
  out += ",\"gaps\":" + u(r.gaps);
  out += ",\"dups\":" + u(r.dups);
  out += ",\"missing\":" + u(r.missing);
  out += ",\"order_errors\":" + u(r.order_errors);
  out += ",\"foreign\":" + u(r.foreign);
  out += ",\"drained\":" + std::string(r.drained ? "true" : "false");
  out += ",\"cutoffs\":" + u(r.cutoffs);
  out += ",\"resubscribes\":" + u(r.resubscribes);
  out += ",\"out_of_range\":" + u(r.out_of_range);
  out += ",\"trailer_mismatches\":" + u(r.trailer_mismatches);
  out += ",\"unsent\":" + u(r.producers.unsent);
  out += ",\"publish_status\":" + statuses_json(r.producers.status);
  out += ",\"subscribe_status\":" + statuses_json(r.subscribe_status);
  out += ",\"latency_ms\":" + latency_json(r.latency);
  if (o.open_loop())
    out += ",\"start_lag_ms\":" + latency_json(r.producers.start_lag);
  out += ",\"cpu_s\":{\"user\":" + json_number(r.cpu.user, 3)
         + ",\"system\":" + json_number(r.cpu.system, 3)
         + ",\"total\":" + json_number(r.cpu.total(), 3) + "}";
  out += ",\"cpu_us_per_event\":"
         + json_number(r.delivered ? r.cpu.total() * 1e6 / static_cast<double>(r.delivered) : 0.0,
                       3);
  out += "}";
  return out;
}

} // namespace

bool is_fanin_scenario(const std::string& name) {
  return name == "fanin";
}

int run_fanin(const options& given) {
  auto o = given;
  if (o.value_bytes < stamp_bytes) {
    std::fprintf(stderr,
                 "troupe bench: fanin needs --value-bytes of at least %zu (each payload carries "
                 "its send time, producer and counter)\n",
                 stamp_bytes);
    return 2;
  }
  // The kv meaning of --in-flight does not apply: connections and threads
  // are bounded by producers instead.
  o.connections = std::min(given.connections, o.producers);
  o.threads = std::min(given.threads, o.connections);
  o.subscriber_threads = std::min(given.subscriber_threads, o.subscribers);
  auto deadline = std::chrono::milliseconds(o.deadline_ms);

  std::vector<std::string> topics;
  for (int i = 0; i < o.topics; ++i)
    topics.push_back(o.topic_prefix + "-" + std::to_string(i));

  std::vector<std::shared_ptr<grpc::Channel>> pub_channels, sub_channels;
  for (int i = 0; i < o.connections; ++i)
    pub_channels.push_back(make_channel(o, "pub", i, false));
  for (int i = 0; i < o.subscribers; ++i)
    sub_channels.push_back(make_channel(o, "sub", i, o.subscriber_rate > 0));
  {
    auto all = pub_channels;
    all.insert(all.end(), sub_channels.begin(), sub_channels.end());
    if (!wait_connected(all, deadline)) {
      std::fprintf(stderr, "troupe bench: cannot connect to %s within %ld ms\n", o.target.c_str(),
                   o.deadline_ms);
      return 1;
    }
  }

  run_clock clock;
  clock.end = steady::time_point::max();
  start_gate gate(o.subscribers);
  // The workers own the subscribers (their calls are bound to the workers'
  // queues); `subs` only points at them.
  std::vector<std::unique_ptr<subscriber_worker>> sub_workers;
  for (int w = 0; w < o.subscriber_threads; ++w)
    sub_workers.push_back(std::make_unique<subscriber_worker>(gate));
  std::vector<subscriber*> subs;
  for (int i = 0; i < o.subscribers; ++i)
    subs.push_back(sub_workers[i % o.subscriber_threads]->add(std::make_unique<subscriber>(
      sub_channels[i], topics, static_cast<std::size_t>(o.producers), o, clock, gate)));
  std::vector<std::thread> sub_threads;
  for (auto& w : sub_workers)
    sub_threads.emplace_back([wp = w.get()] { wp->run(); });
  auto join_subscribers = [&] {
    for (auto* s : subs)
      s->stop();
    gate.open();
    for (auto& th : sub_threads)
      th.join();
  };
  auto abandon = [&](const std::string& why) {
    std::fprintf(stderr, "troupe bench: %s\n", why.c_str());
    join_subscribers();
    return 1;
  };
  if (!gate.wait_ready(deadline))
    return abandon("subscribers did not get their Subscribe response headers within "
                   + std::to_string(o.deadline_ms) + " ms");
  std::string error;
  auto base = topic_seqs(sub_channels[0], topics, o.deadline_ms, error);
  if (!base)
    return abandon(error);
  for (auto* s : subs)
    s->set_base(*base);

  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> tickets{static_cast<std::int64_t>(o.count)};
  std::vector<std::unique_ptr<producer_worker>> workers;
  std::vector<int> streams_of(o.threads, 0);
  for (int p = 0; p < o.producers; ++p)
    ++streams_of[(p % o.connections) % o.threads];
  std::uint64_t quota_left = o.count;
  for (int w = 0; w < o.threads; ++w) {
    double share = static_cast<double>(streams_of[w]) / o.producers;
    std::uint64_t quota = w + 1 == o.threads
                            ? quota_left
                            : static_cast<std::uint64_t>(static_cast<double>(o.count) * share);
    quota_left -= quota;
    workers.push_back(std::make_unique<producer_worker>(
      o, clock, stop, tickets, o.rate * share, static_cast<double>(w) / o.threads, quota));
  }
  for (int p = 0; p < o.producers; ++p) {
    int c = p % o.connections;
    auto t = static_cast<std::size_t>(p % o.topics);
    workers[c % o.threads]->add(std::make_unique<producer_stream>(
      static_cast<std::uint32_t>(p), t, topics[t], o.value_bytes, pub_channels[c]));
  }

  clock.t0 = steady::now();
  clock.unix0 = unix_nanos_now();
  clock.measure_start = clock.t0 + ns(static_cast<std::int64_t>(o.warmup_s * 1e9));
  clock.measure_start_unix = clock.unix_of(clock.measure_start);
  if (o.count == 0)
    clock.end = clock.measure_start + ns(static_cast<std::int64_t>(o.duration_s * 1e9));
  gate.open();
  auto cpu_start = cpu_times::now();

  std::atomic<int> running{o.threads};
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&running, wp = w.get()] {
      wp->run();
      running.fetch_sub(1);
    });

  fanin_result r;
  auto next_line = clock.t0 + std::chrono::seconds(1);
  std::uint64_t last_published = 0, last_delivered = 0;
  auto last_time = clock.t0;
  auto progress = [&](const char* phase) {
    auto now = steady::now();
    if (now < next_line)
      return;
    std::uint64_t published = 0, delivered = 0, cutoffs = 0;
    for (auto& w : workers)
      published += w->published_so_far.load(std::memory_order_relaxed);
    for (auto* s : subs) {
      delivered += s->delivered_so_far();
      cutoffs += s->cutoffs_so_far();
    }
    double dt = std::chrono::duration<double>(now - last_time).count();
    if (!o.quiet)
      std::fprintf(stderr,
                   "[%6.1fs] fanin%s: %9.1f published/s, %9.1f delivered/s, %llu delivered, %llu "
                   "cut-offs\n",
                   std::chrono::duration<double>(now - clock.t0).count(), phase,
                   dt > 0 ? static_cast<double>(published - last_published) / dt : 0.0,
                   dt > 0 ? static_cast<double>(delivered - last_delivered) / dt : 0.0,
                   static_cast<unsigned long long>(delivered),
                   static_cast<unsigned long long>(cutoffs));
    last_published = published;
    last_delivered = delivered;
    last_time = now;
    next_line += std::chrono::seconds(1);
  };
  auto signalled = [&] {
    if (!wait_for_stop_signal(std::chrono::milliseconds(20), stop,
                              "subscribers get what was accepted first"))
      return false;
    r.interrupted = true;
    return true;
  };

  while (running.load() > 0) {
    progress(steady::now() < clock.measure_start ? " (warm-up)" : "");
    signalled();
  }
  for (auto& th : threads)
    th.join();
  auto published_end = steady::now();

  std::vector<std::uint64_t> targets(*base);
  std::uint64_t unknown = 0;
  for (auto& w : workers) {
    r.producers.merge(w->totals);
    for (std::size_t t = 0; t < targets.size(); ++t)
      targets[t] += w->accepted_per_topic[t];
    unknown += w->totals.accepted_unknown;
  }
  if (unknown > 0) {
    // Some stream ended without a count: take the topics' own last seqs once
    // they stop moving.
    std::vector<std::uint64_t> prev;
    auto until = steady::now() + std::chrono::seconds(5);
    while (steady::now() < until) {
      auto now_seqs = topic_seqs(sub_channels[0], topics, o.deadline_ms, error);
      if (now_seqs && *now_seqs == prev)
        break;
      if (now_seqs)
        prev = *now_seqs;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    if (!prev.empty())
      targets = prev;
  }
  for (auto* s : subs)
    s->set_targets(targets);

  auto drain_until = published_end + ns(static_cast<std::int64_t>(o.drain_s * 1e9));
  for (;;) {
    bool all = true;
    for (auto* s : subs)
      all = s->complete() && all;
    if (all)
      break;
    if (steady::now() >= drain_until || signalled()) {
      r.drained = false;
      break;
    }
    progress(" (draining)");
  }
  join_subscribers();
  auto cpu_end = cpu_times::now();
  r.cpu = {cpu_end.user - cpu_start.user, cpu_end.system - cpu_start.system};

  steady::time_point last_delivery{};
  for (auto* s : subs) {
    r.delivered += s->delivered();
    r.in_window += s->in_window;
    r.gaps += s->gaps;
    r.dups += s->dups;
    r.missing += s->missing();
    r.order_errors += s->order_errors;
    r.foreign += s->foreign;
    r.cutoffs += s->cutoffs();
    r.resubscribes += s->resubscribes;
    r.out_of_range += s->out_of_range;
    r.trailer_mismatches += s->trailer_mismatches;
    for (std::size_t i = 0; i < r.subscribe_status.size(); ++i)
      r.subscribe_status[i] += s->status[i];
    r.latency.merge(s->latency);
    last_delivery = std::max(last_delivery, s->last_delivery);
  }
  // Duration runs: the window publishing ran for after warm-up. Count runs:
  // from the end of warm-up to the last delivery.
  auto window_end = o.count == 0 ? std::min(clock.end, published_end) : last_delivery;
  auto seconds_from_start = [&](steady::time_point t) {
    return std::max(0.0, std::chrono::duration<double>(t - clock.measure_start).count());
  };
  r.window_s = seconds_from_start(window_end);
  r.publish_s = seconds_from_start(std::min(clock.end, published_end));

  if (o.json)
    std::printf("%s\n", json_report(o, r).c_str());
  else
    std::fputs(text_report(o, r).c_str(), stdout);
  std::fflush(stdout);
  if (r.delivered == 0) {
    std::fprintf(stderr, "troupe bench: no event was delivered\n");
    return 1;
  }
  return 0;
}

} // namespace troupe::loadgen
