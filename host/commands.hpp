#pragma once

#include "troupe/cli/flags.hpp"

namespace troupe::host {

// Flags are read as `troupe bench` reads them: one parser for every command.
using cli::args;
using cli::parse_flags;
using cli::parsed_flags;
using cli::to_u64;

int serve_command(const args& a);
int health_command(const args& a);
int kv_command(const args& a);
int top_command(const args& a);

} // namespace troupe::host
