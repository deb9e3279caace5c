#include "kv/multi_get.hpp"

#include <caf/all.hpp>

#include <map>

#include "kv/kv_shards.hpp"
#include "troupe/rt/inline_execution.hpp"

namespace troupe::kv {

void multi_get(const kv_shards& shards, multi_get_call call) {
  const auto& req = call->request();
  if (req.keys_size() == 0) {
    call->reply([](v1::MultiGetResponse&) {});
    return;
  }
  // Shared by the parts; the call (which owns the request) may end first.
  auto request = std::make_shared<const v1::MultiGetRequest>(std::move(call->request()));
  std::map<std::uint32_t, std::vector<std::uint32_t>> by_shard;
  for (int i = 0; i < request->keys_size(); ++i)
    by_shard[shards.index_of(request->keys(i))].push_back(static_cast<std::uint32_t>(i));

  std::vector<rt::task<std::vector<v1::Entry>>> parts;
  std::vector<std::vector<std::uint32_t>> order;
  for (auto& [shard, indexes] : by_shard) {
    // Ends with the call: a client that goes away cancels every part.
    auto [part, promise] = rt::make_task<std::vector<v1::Entry>>(call->token());
    parts.push_back(std::move(part));
    order.push_back(indexes);
    rt::send_inline(shards.all()[shard],
                    caf::make_message(multi_get_part{request, std::move(indexes), promise}));
  }
  rt::try_join(
    std::move(parts),
    [call, order = std::move(order), size = request->keys_size()](
      std::vector<std::vector<v1::Entry>> results) {
      call->reply([&](v1::MultiGetResponse& resp) {
        std::vector<v1::Entry> entries(static_cast<std::size_t>(size));
        for (std::size_t p = 0; p < results.size(); ++p)
          for (std::size_t i = 0; i < results[p].size(); ++i)
            entries[order[p][i]] = std::move(results[p][i]);
        for (auto& e : entries)
          *resp.add_entries() = std::move(e);
      });
    },
    [call](const rt::task_error& err) { call->fail(rt::status_of(err)); });
}

} // namespace troupe::kv
