#pragma once

#include <memory>

#include "troupe/fanin/v1/fanin.grpc.pb.h"

namespace troupe::fanin {

class fanin_topics;

/// troupe.fanin.v1.FanIn on gRPC's callback API: validates, then hands each
/// call to the topics without waiting.
std::unique_ptr<grpc::Service> make_grpc_adapter(fanin_topics& topics);

} // namespace troupe::fanin
