#include "troupe/rt/blocking_pool.hpp"

#include <pthread.h>

#include <stdexcept>
#include <utility>

namespace troupe::rt {

namespace {

// Lets stop() recognise a call from one of the pool's own threads, without
// touching the worker vector that the joining thread may be iterating.
thread_local const blocking_pool* current_pool = nullptr;

// Linux limits thread names to 15 characters; keep the index visible and
// shorten the prefix instead, since the index is what tells threads apart in
// top/perf.
std::string thread_name(const std::string& prefix, std::size_t index) {
  constexpr std::size_t max_len = 15;
  auto suffix = "-" + std::to_string(index);
  auto base = prefix.empty() ? std::string{"troupe-blk"} : prefix;
  if (base.size() + suffix.size() > max_len)
    base.resize(max_len > suffix.size() ? max_len - suffix.size() : 0);
  return (base + suffix).substr(0, max_len);
}

} // namespace

const char* to_string(submit_result r) noexcept {
  switch (r) {
    case submit_result::accepted:
      return "accepted";
    case submit_result::queue_full:
      return "queue_full";
    case submit_result::stopped:
      return "stopped";
  }
  return "unknown";
}

blocking_pool::blocking_pool(std::size_t threads, std::size_t queue_capacity, std::string name)
  : thread_count_(threads),
    queue_capacity_(queue_capacity),
    name_(name.empty() ? std::string{"troupe-blk"} : std::move(name)) {
  if (threads == 0)
    throw std::invalid_argument("blocking_pool: needs at least one thread");
  if (queue_capacity == 0)
    throw std::invalid_argument("blocking_pool: queue capacity must be at least 1");
  workers_.reserve(threads);
  try {
    for (std::size_t i = 0; i < threads; ++i)
      workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (...) {
    stop();
    throw;
  }
}

blocking_pool::~blocking_pool() {
  stop();
}

submit_result blocking_pool::try_submit(blocking_job job) {
  {
    std::lock_guard<std::mutex> lk(mtx_);
    if (stopping_)
      return submit_result::stopped;
    if (queue_.size() >= queue_capacity_ + idle_)
      return submit_result::queue_full;
    queue_.push_back(std::move(job));
    queued_.fetch_add(1, std::memory_order_relaxed);
  }
  work_available_.notify_one();
  return submit_result::accepted;
}

void blocking_pool::stop() {
  if (on_pool_thread())
    throw std::logic_error("blocking_pool::stop called from one of its own threads");
  std::deque<blocking_job> leftovers;
  {
    std::lock_guard<std::mutex> lk(mtx_);
    stopping_ = true;
    leftovers.swap(queue_);
    queued_.store(0, std::memory_order_relaxed);
  }
  work_available_.notify_all();
  for (auto& job : leftovers) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    if (!job.skipped)
      continue;
    try {
      job.skipped(cancel_reason::shutting_down);
    } catch (...) {
      faulted_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  leftovers.clear();
  std::lock_guard<std::mutex> jl(join_mtx_);
  for (auto& t : workers_)
    if (t.joinable())
      t.join();
}

std::size_t blocking_pool::idle() const {
  std::lock_guard<std::mutex> lk(mtx_);
  return idle_;
}

bool blocking_pool::on_pool_thread() const {
  return current_pool == this;
}

void blocking_pool::worker_loop(std::size_t index) {
  current_pool = this;
  auto tname = thread_name(name_, index);
  pthread_setname_np(pthread_self(), tname.c_str());
  for (;;) {
    blocking_job job;
    {
      std::unique_lock<std::mutex> lk(mtx_);
      if (!stopping_ && queue_.empty()) {
        ++idle_;
        work_available_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
        --idle_;
      }
      // stop() empties the queue in the same critical section that sets
      // stopping_, so an empty queue here means "stopping".
      if (queue_.empty())
        break;
      job = std::move(queue_.front());
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
      running_.fetch_add(1, std::memory_order_relaxed);
    }
    execute(job);
    // Release the job's captures before it stops counting as running, so
    // running() == 0 means nothing of the job is left on this thread.
    job = blocking_job{};
    running_.fetch_sub(1, std::memory_order_relaxed);
  }
  current_pool = nullptr;
}

void blocking_pool::execute(blocking_job& job) {
  auto why = job.token.reason();
  if (why == cancel_reason::none && job.due.expired())
    why = cancel_reason::deadline_exceeded;
  try {
    if (why != cancel_reason::none) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      if (job.skipped)
        job.skipped(why);
      return;
    }
    if (job.run)
      job.run();
    completed_.fetch_add(1, std::memory_order_relaxed);
  } catch (...) {
    faulted_.fetch_add(1, std::memory_order_relaxed);
  }
}

} // namespace troupe::rt
