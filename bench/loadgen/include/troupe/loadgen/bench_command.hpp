#pragma once

#include <string>
#include <vector>

namespace troupe::loadgen {

/// `troupe bench SCENARIO [options]` with the arguments after "bench";
/// returns the process exit code.
int bench_command(const std::vector<std::string>& args);

} // namespace troupe::loadgen
