#pragma once

#include <grpcpp/support/status.h>

namespace troupe::rt {

/// "DEADLINE_EXCEEDED" for grpc::StatusCode::DEADLINE_EXCEEDED, as clients print it.
const char* status_code_name(grpc::StatusCode code);

} // namespace troupe::rt
