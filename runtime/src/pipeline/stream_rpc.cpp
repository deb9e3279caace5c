#include "pipeline/stream_rpc.hpp"

#include "pipeline/unary_rpc.hpp"

namespace troupe::rt::detail {

stream_rpc::stream_rpc(pipeline_state& state, const method_entry& method, lane& home,
                       void* typed_storage)
  : rpc_base(state, method, home), stream_(&ctx_) {
  typed_storage_ = typed_storage;
  capacity_ = std::max<std::size_t>(1, method.spec.stream_buffer);
  // A waiting producer is woken once the buffer has drained to half, not
  // at the first free slot: it then refills a batch per wake-up instead of
  // one message per completed write (a thread hop each).
  low_water_ = capacity_ / 2;
}

void stream_rpc::post() {
  ctx_.AsyncNotifyWhenDone(&done_tag_);
  method_.service->request_stream(method_.index, &ctx_, &stream_, home_.cq(), &arrived_tag_);
}

void stream_rpc::arrived(bool ok) {
  if (!ok) {
    discard(); // the server is shutting down; the done tag never comes
    return;
  }
  post_request(state_, method_, home_);
  begin();
  if (auto refused = admit()) {
    refuse(std::move(*refused));
    return;
  }
  if (method_.info.kind == method_kind::server_streaming) {
    std::lock_guard<std::mutex> guard{mtx_};
    phase_ = read_phase::request;
    start_read_locked();
    return;
  }
  method_.spec.dispatch(typed_, method_.spec);
}

// -- reading ------------------------------------------------------------------

void stream_rpc::start_read_locked() {
  reading_ = true;
  typed_->base().add_ref(); // for the read tag
  stream_.Read(&incoming_, &read_tag_);
}

void stream_rpc::maybe_read_locked() {
  if (phase_ == read_phase::messages && reading_allowed_ && !reading_ && !reads_over_ && !done_
      && credit_ > 0 && typed_->base().open())
    start_read_locked();
}

void stream_rpc::start_reading(std::size_t credit) {
  std::lock_guard<std::mutex> guard{mtx_};
  reading_allowed_ = true;
  credit_ += credit;
  maybe_read_locked();
}

void stream_rpc::grant(std::size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  credit_ += n;
  maybe_read_locked();
}

void stream_rpc::read_done(bool ok) {
  read_phase phase;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    reading_ = false;
    phase = phase_;
    if (!ok)
      reads_over_ = true;
  }
  switch (phase) {
    case read_phase::request:
      read_request(ok);
      break;
    case read_phase::extra:
      if (ok)
        typed_->end_with(call_status::invalid_argument(
                           "request", method_.info.label
                                        + " takes one request message; the client sent more"),
                         cancel_reason::none);
      else if (typed_->base().open())
        method_.spec.dispatch(typed_, method_.spec);
      break;
    case read_phase::messages:
      read_message(ok);
      break;
  }
  typed_->base().release(); // the read tag's
}

void stream_rpc::read_request(bool ok) {
  if (!ok) {
    typed_->end_with(call_status::invalid_argument("request", "no request message was sent"),
                     cancel_reason::none);
    return;
  }
  if (auto bad = parse(incoming_, "request")) {
    typed_->end_with(std::move(*bad), cancel_reason::none);
    return;
  }
  // The service starts once the client has closed its side: a conformant
  // client sends its end of stream with the request, so this costs a read,
  // not a wait, and a second request is refused before anything is sent.
  std::lock_guard<std::mutex> guard{mtx_};
  phase_ = read_phase::extra;
  if (!done_)
    start_read_locked();
}

void stream_rpc::read_message(bool ok) {
  if (!ok) {
    if (typed_->base().open())
      typed_->client_done();
    return;
  }
  std::size_t index;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    index = index_++;
    if (credit_ > 0)
      --credit_;
  }
  auto what = "request[" + std::to_string(index) + "]";
  if (auto bad = parse(incoming_, what.c_str())) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      reads_over_ = true; // nothing after a bad message is taken
    }
    typed_->reject_message(std::move(*bad));
    return;
  }
  typed_->deliver_message(index);
  std::lock_guard<std::mutex> guard{mtx_};
  maybe_read_locked();
}

// -- writing ------------------------------------------------------------------

bool stream_rpc::ended_locked() const {
  return finish_wanted_ || done_;
}

std::function<void()> stream_rpc::take_writable_locked() {
  if (writable_ && (ended_locked() || queue_.size() <= low_water_))
    return std::move(writable_);
  return nullptr;
}

push_result stream_rpc::push(const google::protobuf::MessageLite& msg) {
  {
    // Not serializing what would not be taken.
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_locked())
      return push_result::ended;
    if (queue_.size() >= capacity_)
      return push_result::full;
  }
  grpc::ByteBuffer bytes;
  if (!serialize(msg, bytes)) {
    finish_stream(call_status::of(status_code::internal, "a response could not be serialized"));
    return push_result::ended;
  }
  return push_encoded(bytes);
}

push_result stream_rpc::push_encoded(grpc::ByteBuffer& bytes) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (ended_locked())
    return push_result::ended;
  if (queue_.size() >= capacity_)
    return push_result::full;
  queue_.push_back(outgoing{std::move(bytes), false});
  if (!writing_)
    write_front_locked();
  return push_result::accepted;
}

void stream_rpc::send_headers() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (headers_sent_ || ended_locked())
    return;
  headers_sent_ = true;
  queue_.push_front(outgoing{grpc::ByteBuffer{}, true});
  if (!writing_)
    write_front_locked();
}

void stream_rpc::write_front_locked() {
  writing_ = true;
  headers_sent_ = true; // a write sends them first
  typed_->base().add_ref(); // for the write tag
  auto& front = queue_.front();
  if (front.headers_only) {
    stream_.SendInitialMetadata(&write_tag_);
    return;
  }
  bytes_sent_ += front.bytes.Length();
  grpc::WriteOptions opts;
  // More is queued: let gRPC coalesce this write with the next ones.
  if (queue_.size() > 1)
    opts.set_buffer_hint();
  stream_.Write(front.bytes, opts, &write_tag_);
}

void stream_rpc::write_done(bool ok) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    writing_ = false;
    if (!queue_.empty())
      queue_.pop_front();
    if (!ok || done_)
      queue_.clear(); // the client is gone
    if (!queue_.empty())
      write_front_locked();
    else if (finish_wanted_ && !finish_started_ && !done_)
      start_finish_locked();
    wake = take_writable_locked();
  }
  if (wake)
    wake();
  typed_->base().release(); // the write tag's
}

void stream_rpc::when_writable(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!ended_locked() && queue_.size() > low_water_) {
      writable_ = std::move(fn);
      return;
    }
  }
  fn();
}

void stream_rpc::finish_stream(call_status&& status) {
  release_slot(true);
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (finish_wanted_)
      return;
    finish_wanted_ = true;
    final_ = std::move(status);
    if (!writing_ && !done_)
      start_finish_locked();
    wake = take_writable_locked();
  }
  if (wake)
    wake(); // the producer sees `ended` on its next push
}

void stream_rpc::abort_stream(call_status&& status) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Keep only the write in flight: it must complete before Finish.
    while (queue_.size() > (writing_ ? 1u : 0u))
      queue_.pop_back();
  }
  finish_stream(std::move(status));
}

void stream_rpc::send_reply(call_status&& status, const google::protobuf::MessageLite* response) {
  if (status.ok()) {
    grpc::ByteBuffer bytes;
    if (response != nullptr && serialize(*response, bytes)) {
      std::lock_guard<std::mutex> guard{mtx_};
      final_message_ = std::move(bytes);
    } else {
      status = call_status::of(status_code::internal, "response could not be serialized");
    }
  }
  finish_stream(std::move(status));
}

void stream_rpc::start_finish_locked() {
  finish_started_ = true;
  record(final_);
  add_trailers(final_);
  typed_->base().add_ref(); // for the finish tag
  if (final_.ok() && final_message_) {
    bytes_sent_ += final_message_->Length();
    stream_.WriteAndFinish(*final_message_, grpc::WriteOptions(), grpc::Status::OK, &finish_tag_);
    return;
  }
  stream_.Finish(to_grpc(final_), &finish_tag_);
}

void stream_rpc::finish_done(bool) {
  typed_->base().release(); // the finish tag's
}

// -- the end ------------------------------------------------------------------

void stream_rpc::on_end(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!done_) {
      on_end_ = std::move(fn);
      return;
    }
  }
  fn();
}

void stream_rpc::done(bool) {
  std::function<void()> wake;
  std::function<void()> ended;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    done_ = true;
    if (!writing_)
      queue_.clear();
    wake = std::move(writable_);
    ended = std::move(on_end_);
  }
  auto reason = settle(ctx_.IsCancelled());
  if (wake)
    wake();
  if (ended)
    ended();
  over(reason);
}

} // namespace troupe::rt::detail
