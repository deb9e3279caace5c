#include "fanin/producer_stream.hpp"

#include "fanin/stamp.hpp"
#include "fanin/trailers.hpp"
#include "payload.hpp"

namespace troupe::loadgen {

producer_stream::producer_stream(std::uint32_t index, std::size_t topic,
                                 const std::string& topic_name, std::size_t value_bytes,
                                 const std::shared_ptr<grpc::Channel>& channel)
  : index(index), topic(topic), stub_(troupe::fanin::v1::FanIn::NewStub(channel)) {
  req_.set_topic(topic_name);
  req_.set_producer("p" + std::to_string(index));
  req_.set_payload(filler_bytes(value_bytes));
}

void producer_stream::start(grpc::CompletionQueue* cq) {
  writer_ = stub_->PrepareAsyncPublish(&ctx_, &resp_, cq);
  state_ = state::starting;
  writer_->StartCall(this);
}

void producer_stream::write(std::int64_t sent_unix_ns, std::chrono::steady_clock::time_point sent) {
  write_stamp(*req_.mutable_payload(), stamp{sent_unix_ns, index, counter_++});
  sent_ = sent;
  state_ = state::writing;
  writer_->Write(req_, this);
}

void producer_stream::close() {
  state_ = state::closing;
  writer_->WritesDone(this);
}

void producer_stream::finish() {
  state_ = state::finishing;
  writer_->Finish(&status_, this);
}

std::optional<std::uint64_t> producer_stream::accepted() const {
  if (status_.ok())
    return resp_.accepted();
  return trailer_u64(ctx_, "troupe-accepted");
}

} // namespace troupe::loadgen
