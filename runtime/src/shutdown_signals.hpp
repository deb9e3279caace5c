#pragma once

// SIGINT and SIGTERM are blocked in every thread and awaited in one place,
// so that no library thread (CAF, gRPC) is interrupted by them.

namespace troupe::rt::detail {

/// Blocks SIGINT and SIGTERM in the calling thread; threads created later
/// inherit the mask. Call before any thread starts.
void block_shutdown_signals();

/// Waits for SIGINT or SIGTERM and returns which.
int wait_for_shutdown_signal();

/// From now on a second signal exits the process at once (code 1).
void exit_on_second_signal();

/// Debian builds Abseil without NDEBUG, so every absl::Mutex (all of gRPC's
/// locks) records a lock-order graph to report deadlocks: measured here at
/// ~20% of a busy server's CPU per call. Turns that off.
void skip_abseil_deadlock_detection();

} // namespace troupe::rt::detail
