#pragma once

// gRPC and protobuf write their own log lines to stderr in their own
// format; a client can make protobuf write one per request (a string field
// with invalid UTF-8). Routed through spdlog instead, every line keeps the
// host's format (one JSON object with log.format=json), and each library
// gets at most a few lines a second: the rest are counted and reported.

namespace troupe::rt::detail {

/// Call once logging is set up, before the gRPC server starts.
void route_library_logs();

} // namespace troupe::rt::detail
