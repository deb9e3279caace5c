#pragma once

// Sending from a pipeline thread to an actor normally wakes a CAF worker: a
// thread hop that costs more CPU than the rest of a small call. send_inline
// instead runs the receiver right here when it was idle, the way a CAF
// worker would (same mailbox protocol, so still one thread at a time per
// actor); an actor busy elsewhere just gets the message. From any other
// thread it is a plain send.

#include <caf/actor.hpp>
#include <caf/message.hpp>

namespace troupe::rt {

/// Enqueues `msg` to `dest` (sender: none) and, on a pipeline thread, runs
/// `dest` here if that made it runnable.
void send_inline(const caf::actor& dest, caf::message msg);

} // namespace troupe::rt
