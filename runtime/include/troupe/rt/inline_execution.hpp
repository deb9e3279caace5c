#pragma once

// Sending from a gRPC thread into an actor normally wakes a CAF worker: a
// thread hop that costs 15-25 us of CPU per call on this class of machine.
// send_inline instead runs the receiver right here when it was idle, the way
// a CAF worker would (same mailbox protocol, so still one thread at a time per
// actor), and hands it to the scheduler only when it is busy elsewhere or has
// more work than a small budget.

#include <caf/actor.hpp>
#include <caf/message.hpp>

namespace troupe::rt {

/// Enqueues `msg` to `dest` (sender: none) and, if that made `dest` runnable,
/// runs it on the calling thread. For threads that are not CAF workers.
void send_inline(const caf::actor& dest, caf::message msg);

/// Process-wide switch, for benchmarks that compare with the plain hop.
void set_inline_execution(bool enabled);
bool inline_execution_enabled();

} // namespace troupe::rt
