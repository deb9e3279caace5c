#include "grpc_client.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace troupe::loadgen {

std::shared_ptr<grpc::Channel> open_channel(const std::string& target, const std::string& name,
                                            const channel_options& opts) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString("troupe.bench.connection", name);
  if (!opts.retries)
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  if (!opts.bdp_probe)
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::size_t connect_all(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                        std::chrono::system_clock::time_point until) {
  for (auto& ch : channels)
    ch->GetState(true);
  std::size_t connected = 0;
  for (auto& ch : channels)
    connected += ch->WaitForConnected(until) ? 1 : 0;
  return connected;
}

void shut_down_and_drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

} // namespace troupe::loadgen
