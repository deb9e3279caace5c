#include "kv/grpc_adapter.hpp"

#include "kv/kv_shards.hpp"
#include "kv/validation.hpp"
#include "troupe/rt/call_limits.hpp"
#include "troupe/rt/grpc_bridge.hpp"

namespace troupe::kv {

namespace {

// Streams of Scan entries buffered per call before the merge pauses.
constexpr std::size_t scan_stream_buffer = 64;

class key_value_service final : public v1::KeyValue::CallbackService {
public:
  key_value_service(kv_shards& shards, std::uint64_t max_value_bytes)
    : shards_(shards), max_value_bytes_(max_value_bytes) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::GetResponse* resp) override {
    if (auto limited = rt::admit_call(ctx, "/troupe.kv.v1.KeyValue/Get"))
      return rt::finish_now(ctx, *limited);
    if (auto bad = check(*req))
      return rt::finish_now(ctx, *bad);
    auto call = rt::unary_reactor<v1::GetResponse>::start(ctx, resp);
    shards_.get(req->key(), call);
    return rt::unary_reactor<v1::GetResponse>::reactor(call);
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* req,
                                v1::PutResponse* resp) override {
    if (auto limited = rt::admit_call(ctx, "/troupe.kv.v1.KeyValue/Put"))
      return rt::finish_now(ctx, *limited);
    if (auto bad = check(*req, max_value_bytes_))
      return rt::finish_now(ctx, *bad);
    auto call = rt::unary_reactor<v1::PutResponse>::start(ctx, resp);
    std::optional<std::uint64_t> if_version;
    if (req->has_if_version())
      if_version = req->if_version();
    shards_.put(req->key(), req->value(), if_version, call);
    return rt::unary_reactor<v1::PutResponse>::reactor(call);
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const v1::DeleteRequest* req,
                                   v1::DeleteResponse* resp) override {
    if (auto limited = rt::admit_call(ctx, "/troupe.kv.v1.KeyValue/Delete"))
      return rt::finish_now(ctx, *limited);
    if (auto bad = check(*req))
      return rt::finish_now(ctx, *bad);
    auto call = rt::unary_reactor<v1::DeleteResponse>::start(ctx, resp);
    shards_.erase(req->key(), call);
    return rt::unary_reactor<v1::DeleteResponse>::reactor(call);
  }

  grpc::ServerUnaryReactor* MultiGet(grpc::CallbackServerContext* ctx,
                                     const v1::MultiGetRequest* req,
                                     v1::MultiGetResponse* resp) override {
    if (auto limited = rt::admit_call(ctx, "/troupe.kv.v1.KeyValue/MultiGet"))
      return rt::finish_now(ctx, *limited);
    if (auto bad = check(*req))
      return rt::finish_now(ctx, *bad);
    auto call = rt::unary_reactor<v1::MultiGetResponse>::start(ctx, resp);
    shards_.multi_get({req->keys().begin(), req->keys().end()}, call);
    return rt::unary_reactor<v1::MultiGetResponse>::reactor(call);
  }

  grpc::ServerWriteReactor<v1::Entry>* Scan(grpc::CallbackServerContext* ctx,
                                            const v1::ScanRequest* req) override {
    auto stream = rt::write_reactor<v1::Entry>::start(ctx, scan_stream_buffer);
    if (auto limited = rt::admit_call(ctx, "/troupe.kv.v1.KeyValue/Scan")) {
      stream->finish(*limited);
      return rt::write_reactor<v1::Entry>::reactor(stream);
    }
    if (auto bad = check(*req)) {
      stream->finish(*bad);
      return rt::write_reactor<v1::Entry>::reactor(stream);
    }
    shards_.scan(req->prefix(), req->start_after(), effective_scan_limit(req->limit()), stream);
    return rt::write_reactor<v1::Entry>::reactor(stream);
  }

private:
  kv_shards& shards_;
  std::uint64_t max_value_bytes_;
};

} // namespace

std::unique_ptr<v1::KeyValue::CallbackService> make_grpc_adapter(kv_shards& shards,
                                                                 std::uint64_t max_value_bytes) {
  return std::make_unique<key_value_service>(shards, max_value_bytes);
}

} // namespace troupe::kv
