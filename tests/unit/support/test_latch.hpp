#pragma once

// A countdown latch for tests (std::latch is C++20): waits with a limit so a
// broken primitive fails the test instead of hanging it.

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace troupe::test {

class test_latch {
public:
  explicit test_latch(int count) : count_(count) {}
  void count_down() {
    std::lock_guard<std::mutex> lk(mtx_);
    if (--count_ <= 0)
      cv_.notify_all();
  }
  bool wait_for(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lk(mtx_);
    return cv_.wait_for(lk, limit, [this] { return count_ <= 0; });
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  int count_;
};

} // namespace troupe::test
