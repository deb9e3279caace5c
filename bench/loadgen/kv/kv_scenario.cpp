#include "kv/kv_scenario.hpp"

#include <atomic>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "driver/call_slot.hpp"
#include "kv/fast_rng.hpp"
#include "payload.hpp"
#include "troupe/kv/v1/kv.grpc.pb.h"

namespace troupe::loadgen {

namespace {

namespace v1 = troupe::kv::v1;

enum class kv_mix { get, put, mixed, populate };

/// Keys "bench/0042": fixed width, so a new key is written over the old
/// one in place instead of building a string per call.
class key_writer {
public:
  explicit key_writer(std::uint64_t keys) {
    for (auto n = keys > 1 ? keys - 1 : 1; n > 0; n /= 10)
      ++digits_;
  }
  void init(std::string& key) const {
    key.assign(prefix_len + digits_, '0');
    key.replace(0, prefix_len, "bench/");
  }
  void write(std::string& key, std::uint64_t index) const {
    for (std::size_t i = key.size(); i > prefix_len; --i, index /= 10)
      key[i - 1] = static_cast<char>('0' + index % 10);
  }

private:
  static constexpr std::size_t prefix_len = 6;
  std::size_t digits_ = 0;
};

struct kv_shared {
  kv_mix mix;
  std::uint64_t keys;
  double put_ratio;
  std::string value;
  key_writer keyw;
  std::atomic<std::uint64_t> next_key{0};  // populate: each key once
};

class kv_slot final : public call_slot {
public:
  kv_slot(kv_shared& shared, const std::shared_ptr<grpc::Channel>& channel, std::uint64_t seed)
    : shared_(shared), stub_(v1::KeyValue::NewStub(channel)), rng_(seed) {
    shared_.keyw.init(*get_req_.mutable_key());
    shared_.keyw.init(*put_req_.mutable_key());
    put_req_.set_value(shared_.value);
  }

  void start(grpc::CompletionQueue* cq, std::chrono::system_clock::time_point deadline) override {
    get_reader_.reset();
    put_reader_.reset();
    ctx_.reset();
    ctx_.emplace();
    ctx_->set_deadline(deadline);
    bool put = shared_.mix == kv_mix::put || shared_.mix == kv_mix::populate
               || (shared_.mix == kv_mix::mixed && rng_.unit() < shared_.put_ratio);
    std::uint64_t key = shared_.mix == kv_mix::populate
                          ? shared_.next_key.fetch_add(1, std::memory_order_relaxed) % shared_.keys
                          : rng_.below(shared_.keys);
    if (put) {
      shared_.keyw.write(*put_req_.mutable_key(), key);
      put_reader_ = stub_->PrepareAsyncPut(&*ctx_, put_req_, cq);
      put_reader_->StartCall();
      put_reader_->Finish(&put_resp_, &status_, tag());
    } else {
      shared_.keyw.write(*get_req_.mutable_key(), key);
      get_reader_ = stub_->PrepareAsyncGet(&*ctx_, get_req_, cq);
      get_reader_->StartCall();
      get_reader_->Finish(&get_resp_, &status_, tag());
    }
  }

  bool on_event(bool) override { return true; }

  const grpc::Status& status() const override { return status_; }

private:
  kv_shared& shared_;
  std::unique_ptr<v1::KeyValue::Stub> stub_;
  fast_rng rng_;
  // Readers live in the call's arena, which the context owns: they go first.
  std::optional<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::GetResponse>> get_reader_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::PutResponse>> put_reader_;
  v1::GetRequest get_req_;
  v1::GetResponse get_resp_;
  v1::PutRequest put_req_;
  v1::PutResponse put_resp_;
  grpc::Status status_;
};

class kv_scenario final : public scenario {
public:
  kv_scenario(kv_mix mix, const options& o)
    : shared_{mix, o.keys, o.put_ratio, filler_bytes(o.value_bytes), key_writer(o.keys)} {}

  std::unique_ptr<call_slot> make_slot(const std::shared_ptr<grpc::Channel>& channel,
                                       std::uint64_t seed) override {
    return std::make_unique<kv_slot>(shared_, channel, seed);
  }

private:
  kv_shared shared_;
};

} // namespace

bool is_kv_scenario(const std::string& name) {
  return name == "kv-get" || name == "kv-put" || name == "kv-mixed";
}

std::unique_ptr<scenario> make_kv_scenario(const options& o) {
  if (o.scenario == "kv-get")
    return std::make_unique<kv_scenario>(kv_mix::get, o);
  if (o.scenario == "kv-put")
    return std::make_unique<kv_scenario>(kv_mix::put, o);
  if (o.scenario == "kv-mixed")
    return std::make_unique<kv_scenario>(kv_mix::mixed, o);
  return nullptr;
}

std::unique_ptr<scenario> make_kv_populate(const options& o) {
  return std::make_unique<kv_scenario>(kv_mix::populate, o);
}

} // namespace troupe::loadgen
