#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace troupe::loadgen {

/// Subscribers report "registered" (headers received) here; they read
/// nothing until the run's base seqs and clock are fixed and the gate opens.
/// Producers start only after that, so every subscriber can be held to every
/// event accepted during the run.
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

} // namespace troupe::loadgen
