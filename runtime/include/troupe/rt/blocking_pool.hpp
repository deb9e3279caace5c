#pragma once

// A small fixed set of threads for work that blocks (SQLite, libpq, file
// I/O), so that actor workers and gRPC threads never do. The queue is bounded
// and submission never waits: when the pool is saturated the caller learns it
// immediately and can fail the request (RESOURCE_EXHAUSTED) instead of piling
// up latency.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "troupe/rt/call.hpp"
#include "troupe/rt/cancellation.hpp"
#include "troupe/rt/server_stream.hpp"

namespace troupe::rt {

struct blocking_job {
  // The work itself. Exceptions are caught and counted (see faulted()): a job
  // is expected to report its own failures through whatever it captured.
  std::function<void()> run;
  // Called instead of `run` when the job is dequeued after its token was
  // cancelled (with the token's reason) or after `due` passed
  // (deadline_exceeded), and for jobs still queued at stop()
  // (shutting_down). Either `run` or `skipped` is called exactly once for an
  // accepted job. May be empty.
  std::function<void(cancel_reason)> skipped;
  cancel_token token;
  deadline due = deadline::never();
};

enum class submit_result { accepted, queue_full, stopped };

const char* to_string(submit_result r) noexcept;

class blocking_pool {
public:
  // `name` prefixes the thread names ("<name>-<i>", cut to the 15 characters
  // Linux allows); empty means "troupe-blk". Throws std::invalid_argument if
  // threads or queue_capacity is 0.
  blocking_pool(std::size_t threads, std::size_t queue_capacity, std::string name = "troupe-blk");
  ~blocking_pool();

  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  // Never blocks on a full queue. Capacity is counted on top of idle
  // threads: at most threads() jobs run while queue_capacity() wait. A
  // rejected job is dropped without calling either of its callbacks: the
  // return value is the caller's notification.
  submit_result try_submit(blocking_job job);

  // Idempotent and safe to call concurrently. Queued jobs get
  // skipped(shutting_down) on the calling thread, running jobs finish, then
  // the threads are joined. Must not be called from a pool thread (throws
  // std::logic_error, since joining itself would deadlock).
  void stop();

  std::size_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }
  std::size_t running() const noexcept { return running_.load(std::memory_order_relaxed); }
  std::size_t threads() const noexcept { return thread_count_; }
  // Threads parked waiting for work.
  std::size_t idle() const;
  std::size_t queue_capacity() const noexcept { return queue_capacity_; }
  const std::string& name() const noexcept { return name_; }

  // Cumulative counters for metrics.
  std::uint64_t completed() const noexcept { return completed_.load(std::memory_order_relaxed); }
  std::uint64_t skipped() const noexcept { return skipped_.load(std::memory_order_relaxed); }
  std::uint64_t faulted() const noexcept { return faulted_.load(std::memory_order_relaxed); }

private:
  void worker_loop(std::size_t index);
  void execute(blocking_job& job);
  bool on_pool_thread() const;

  const std::size_t thread_count_;
  const std::size_t queue_capacity_;
  const std::string name_;

  mutable std::mutex mtx_;
  std::condition_variable work_available_;
  std::deque<blocking_job> queue_;
  bool stopping_ = false;
  // Workers parked on work_available_; a job submitted while one is parked
  // does not really wait, so it must not count against queue_capacity_.
  std::size_t idle_ = 0;

  std::mutex join_mtx_;
  std::vector<std::thread> workers_;

  std::atomic<std::size_t> queued_{0};
  std::atomic<std::size_t> running_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::atomic<std::uint64_t> faulted_{0};
};

/// Runs `work` on `pool` on behalf of `call`, the way a service should: a
/// job whose call has ended by the time a thread is free (cancelled, past
/// its deadline, shut down) is skipped, never run; a full queue ends the
/// call at once RESOURCE_EXHAUSTED with `pushback`, a stopped pool
/// UNAVAILABLE. `work` answers the call itself (answering is thread-safe).
/// Returns what the pool did.
template <class Call, class Work>
submit_result run_blocking(blocking_pool& pool, const call_ptr<Call>& call, Work work,
                           std::chrono::milliseconds pushback = std::chrono::milliseconds(100)) {
  blocking_job job;
  job.run = std::move(work);
  job.token = call->token();
  job.due = call->due();
  auto result = pool.try_submit(std::move(job));
  call_status refused;
  switch (result) {
    case submit_result::accepted:
      return result;
    case submit_result::queue_full:
      refused = call_status::overloaded(
        "all " + std::to_string(pool.threads()) + " blocking threads are busy and "
          + std::to_string(pool.queue_capacity())
          + " jobs wait (runtime.blocking_threads, runtime.blocking_queue)",
        pushback, shed_reason::blocking_queue_full);
      break;
    case submit_result::stopped:
      refused = call_status::from_cancel(cancel_reason::shutting_down);
      break;
  }
  if constexpr (std::is_base_of_v<server_stream, Call>)
    call->finish(std::move(refused));
  else
    call->fail(std::move(refused));
  return result;
}

} // namespace troupe::rt
