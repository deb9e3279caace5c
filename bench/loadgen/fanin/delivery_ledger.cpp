#include "fanin/delivery_ledger.hpp"

#include <algorithm>

#include "fanin/stamp.hpp"

namespace troupe::loadgen {

delivery_ledger::delivery_ledger(const std::vector<std::string>& topics, std::size_t producers,
                                 const run_clock& clock)
  : clock_(clock),
    last_seen_(topics.size(), 0),
    progress_seen_(topics.size()),
    targets_(topics.size()),
    next_counter_(producers, 0) {
  for (std::size_t i = 0; i < topics.size(); ++i)
    topic_index_.emplace(topics[i], i);
  for (auto& v : progress_seen_)
    v.store(0, std::memory_order_relaxed);
}

void delivery_ledger::set_base(const std::vector<std::uint64_t>& base) {
  for (std::size_t i = 0; i < base.size(); ++i) {
    last_seen_[i] = base[i];
    progress_seen_[i].store(base[i], std::memory_order_relaxed);
  }
}

void delivery_ledger::set_targets(const std::vector<std::uint64_t>& targets) {
  for (std::size_t i = 0; i < targets.size(); ++i)
    targets_[i].store(targets[i], std::memory_order_relaxed);
  have_targets_.store(true, std::memory_order_release);
}

bool delivery_ledger::complete() const {
  if (!have_targets_.load(std::memory_order_acquire))
    return false;
  for (std::size_t i = 0; i < targets_.size(); ++i)
    if (progress_seen_[i].load(std::memory_order_relaxed)
        < targets_[i].load(std::memory_order_relaxed))
      return false;
  return true;
}

void delivery_ledger::take(const std::string& topic, std::uint64_t seq,
                           const std::string& payload) {
  auto it = topic_index_.find(topic);
  if (it == topic_index_.end()) {
    ++counts_.foreign;
    return;
  }
  auto ti = it->second;
  auto& last = last_seen_[ti];
  if (seq <= last) {
    ++counts_.dups;
    return;
  }
  if (seq > last + 1)
    counts_.gaps += seq - last - 1;
  last = seq;
  progress_seen_[ti].store(seq, std::memory_order_relaxed);
  delivered_.fetch_add(1, std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  counts_.last_delivery = now;
  if (now >= clock_.measure_start && now <= clock_.end)
    ++counts_.in_window;
  stamp st;
  if (!read_stamp(payload, st) || st.producer >= next_counter_.size()) {
    ++counts_.foreign;
    return;
  }
  auto& next = next_counter_[st.producer];
  if (st.counter < next)
    ++counts_.order_errors;
  else
    next = st.counter + 1;
  if (st.sent_unix_ns >= clock_.measure_start_unix)
    counts_.latency.record(static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, clock_.unix_of(now) - st.sent_unix_ns)));
}

delivery_counts delivery_ledger::counts() const {
  auto c = counts_;
  c.delivered = delivered_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    auto t = targets_[i].load(std::memory_order_relaxed);
    if (t > last_seen_[i])
      c.missing += t - last_seen_[i];
  }
  return c;
}

} // namespace troupe::loadgen
