#include "fanin/topics.hpp"

#include <thread>

#include <grpcpp/client_context.h>

#include "troupe/cli/status_name.hpp"
#include "troupe/fanin/v1/fanin.grpc.pb.h"

namespace troupe::loadgen {

namespace v1 = troupe::fanin::v1;

std::vector<std::string> topic_names(const std::string& prefix, int count) {
  std::vector<std::string> topics;
  for (int i = 0; i < count; ++i)
    topics.push_back(prefix + "-" + std::to_string(i));
  return topics;
}

std::optional<std::vector<std::uint64_t>> topic_seqs(const std::shared_ptr<grpc::Channel>& ch,
                                                     const std::vector<std::string>& topics,
                                                     long deadline_ms, std::string& error) {
  auto stub = v1::FanIn::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  v1::ListTopicsResponse resp;
  auto st = stub->ListTopics(&ctx, v1::ListTopicsRequest{}, &resp);
  if (!st.ok()) {
    error = std::string("ListTopics: ") + cli::status_code_name(st.error_code()) + ": "
            + st.error_message();
    return std::nullopt;
  }
  std::vector<std::uint64_t> seqs(topics.size(), 0);
  for (const auto& info : resp.topics())
    for (std::size_t i = 0; i < topics.size(); ++i)
      if (info.name() == topics[i])
        seqs[i] = info.last_seq();
  return seqs;
}

std::vector<std::uint64_t> settled_topic_seqs(const std::shared_ptr<grpc::Channel>& ch,
                                              const std::vector<std::string>& topics,
                                              long deadline_ms,
                                              std::chrono::milliseconds patience) {
  std::vector<std::uint64_t> prev;
  std::string error;
  auto until = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < until) {
    auto now_seqs = topic_seqs(ch, topics, deadline_ms, error);
    if (now_seqs && *now_seqs == prev)
      break;
    if (now_seqs)
      prev = *now_seqs;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return prev;
}

} // namespace troupe::loadgen
