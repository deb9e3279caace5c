#pragma once

// `troupe bench fanin`: producers stream events into topics, subscribers
// stream them out, and every delivered seq is checked.
//
// Fan-in calls are long-lived streams whose end is a handshake (WritesDone,
// then Finish for the accepted count; subscribers read until they have every
// accepted event), so they do not fit the driver's reusable call slots, which
// count finished calls and are torn down with their completion queues. This
// runner has its own producer threads (completion queues, open or closed
// loop as in the driver) and subscriber threads.

#include <string>

#include "options.hpp"

namespace troupe::loadgen {

bool is_fanin_scenario(const std::string& name);

/// Runs the fan-in load described by `o`, prints the report (text, or JSON
/// with o.json) and returns the exit code: 0 when events were delivered, 1
/// when none were or the run could not start, 2 on usage errors.
int run_fanin(const options& o);

} // namespace troupe::loadgen
