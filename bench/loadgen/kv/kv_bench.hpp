#pragma once

#include "options.hpp"

namespace troupe::loadgen {

/// Runs a kv scenario (after --populate, if asked), prints its report (text,
/// or JSON with o.json) and returns the exit code: 0 with at least one OK
/// call, 1 when none succeeded or --populate did not store every key.
int run_kv(const options& o);

} // namespace troupe::loadgen
