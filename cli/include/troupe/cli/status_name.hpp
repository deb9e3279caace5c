#pragma once

#include <grpcpp/support/status_code_enum.h>

namespace troupe::cli {

/// "DEADLINE_EXCEEDED" for grpc::StatusCode::DEADLINE_EXCEEDED, as clients print it.
const char* status_code_name(grpc::StatusCode code);

} // namespace troupe::cli
