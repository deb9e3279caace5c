#pragma once

// Binds gRPC callback-API methods to actors. The gRPC thread that receives a
// call never waits: it hands a unary_call / server_stream to an actor (with
// send_inline, usually running it right here) and returns the reactor; the
// actor side finishes the call whenever its answer is ready.

#include <cstdint>
#include <deque>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/client_stream.hpp"
#include "troupe/rt/server_stream.hpp"
#include "troupe/rt/unary_call.hpp"

namespace troupe::rt {

/// The one place call_status becomes grpc::Status; INTERNAL is logged.
grpc::Status to_grpc_status(const call_status& status);

/// Trailing metadata every reply carries (troupe-replica), and pushback.
void add_trailers(grpc::CallbackServerContext* ctx, const call_status& status);

/// Once set, new calls are refused and calls that end early report
/// UNAVAILABLE (shutting down).
void mark_server_draining();
bool server_draining();

/// Calls whose reactor has not reached OnDone yet; the host waits for them
/// before it stops the server, so their last bytes are still flushed.
void note_call_opened();
void note_call_closed();
std::int64_t open_calls();

/// Why a call whose client went away ended: deadline, shutdown or cancel.
cancel_reason reason_for_cancel(const grpc::CallbackServerContext* ctx);

deadline deadline_of(const grpc::CallbackServerContext* ctx);

/// Ends a call at once, e.g. on invalid input, without involving an actor.
grpc::ServerUnaryReactor* finish_now(grpc::CallbackServerContext* ctx, const call_status& status);

template <class Response>
class unary_reactor final : public grpc::ServerUnaryReactor, public unary_call<Response> {
public:
  /// Starts a call; hand the returned pointer to the answering side and
  /// return reactor() from the gRPC method.
  static unary_call_ptr<Response> start(grpc::CallbackServerContext* ctx, Response* response) {
    auto* r = new unary_reactor(ctx, response);
    return unary_call_ptr<Response>::share(r);
  }
  static grpc::ServerUnaryReactor* reactor(const unary_call_ptr<Response>& call) {
    return static_cast<unary_reactor*>(call.get());
  }

  void OnCancel() override {
    auto reason = reason_for_cancel(ctx_);
    this->note_cancel(reason);
    if (this->claim())
      finish_claimed(call_status::from_cancel(reason));
  }

  void OnDone() override {
    note_call_closed();
    this->release();
  }

  // Both reactions are a few atomic operations (OnCancel's Finish only
  // starts a batch), so gRPC may run them inline instead of handing each
  // finished call to its executor thread: that hop cost more CPU per call
  // than the whole actor round trip.
  bool InternalInlineable() override { return true; }

private:
  unary_reactor(grpc::CallbackServerContext* ctx, Response* response)
    : unary_call<Response>(response, deadline_of(ctx)), ctx_(ctx) {
    note_call_opened();
  }

  void finish_claimed(call_status status) override {
    add_trailers(ctx_, status);
    this->Finish(to_grpc_status(status));
  }

  grpc::CallbackServerContext* ctx_;
};

template <class Message>
class write_reactor final : public grpc::ServerWriteReactor<Message>,
                            public server_stream<Message> {
public:
  static server_stream_ptr<Message> start(grpc::CallbackServerContext* ctx, size_t buffer) {
    auto* r = new write_reactor(ctx, buffer);
    return server_stream_ptr<Message>::share(r);
  }
  static grpc::ServerWriteReactor<Message>* reactor(const server_stream_ptr<Message>& s) {
    return static_cast<write_reactor*>(s.get());
  }

  push_result push(Message& msg) override {
    bool start_write = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (done_ || finishing_ || !this->open())
        return push_result::ended;
      if (queue_.size() >= capacity_)
        return push_result::full;
      queue_.push_back(std::move(msg));
      start_write = !writing_;
      writing_ = writing_ || start_write;
    }
    if (start_write)
      write_front();
    return push_result::accepted;
  }

  void when_writable(std::function<void()> fn) override {
    bool now = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      now = done_ || !this->open() || queue_.size() <= low_water_;
      if (!now)
        writable_ = std::move(fn);
    }
    if (now)
      fn();
  }

  void send_headers() override {
    std::lock_guard<std::recursive_mutex> ops{ops_mtx_};
    if (ended_ || headers_sent_)
      return;
    headers_sent_ = true;
    this->StartSendInitialMetadata();
  }

  void finish(call_status status) override {
    bool finish_now = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (done_ || finishing_)
        return;
      finishing_ = true;
      final_ = std::move(status);
      finish_now = !writing_;
    }
    if (finish_now)
      end_with(final_);
  }

  void on_end(std::function<void()> fn) override {
    bool now = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      now = ended_notified_;
      if (!now)
        on_end_ = std::move(fn);
    }
    if (now)
      fn();
  }

  void OnWriteDone(bool ok) override {
    std::function<void()> wake;
    bool more = false;
    bool finish_now = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!queue_.empty())
        queue_.pop_front();
      if (!ok || cancelled_)
        queue_.clear(); // the client is gone; OnCancel set the final status
      more = !queue_.empty();
      writing_ = more;
      finish_now = !more && finishing_;
      if (queue_.size() <= low_water_)
        wake = std::move(writable_);
    }
    if (more)
      write_front();
    else if (finish_now)
      end_with(final_);
    if (wake)
      wake();
  }

  void OnCancel() override {
    auto reason = reason_for_cancel(ctx_);
    this->note_cancel(reason);
    std::function<void()> wake;
    bool finish_now = false;
    {
      // Finish waits for a write in flight: that write completes (failed)
      // first, and OnWriteDone finishes the call.
      std::lock_guard<std::mutex> guard{mtx_};
      cancelled_ = true;
      finishing_ = true;
      final_ = call_status::from_cancel(reason);
      finish_now = !writing_;
      if (!writing_)
        queue_.clear();
      wake = std::move(writable_);
    }
    if (finish_now)
      end_with(final_);
    if (wake)
      wake(); // the producer sees `ended` on its next push
  }

  void OnDone() override {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
      wake = std::move(writable_);
    }
    if (wake)
      wake();
    notify_end();
    note_call_closed();
    this->release();
  }

private:
  write_reactor(grpc::CallbackServerContext* ctx, size_t capacity)
    : server_stream<Message>(deadline_of(ctx)),
      ctx_(ctx),
      capacity_(capacity),
      low_water_(capacity / 2) {
    note_call_opened();
  }

  void write_front() {
    Message* front = nullptr;
    grpc::WriteOptions opts;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (queue_.empty())
        return;
      front = &queue_.front();
      // More is queued: let gRPC coalesce this write with the next ones.
      if (queue_.size() > 1)
        opts.set_buffer_hint();
    }
    // gRPC ops of one call are started under ops_mtx_ and never after Finish:
    // a cancel can end the call on another thread at any moment.
    std::lock_guard<std::recursive_mutex> ops{ops_mtx_};
    if (ended_)
      return;
    headers_sent_ = true;
    this->StartWrite(front, opts);
  }

  void end_with(const call_status& status) {
    {
      std::lock_guard<std::recursive_mutex> ops{ops_mtx_};
      if (!this->claim())
        return;
      ended_ = true;
      add_trailers(ctx_, status);
      this->Finish(to_grpc_status(status));
    }
    notify_end();
  }

  void notify_end() {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ended_notified_)
        return;
      ended_notified_ = true;
      fn = std::move(on_end_);
    }
    if (fn)
      fn();
  }

  grpc::CallbackServerContext* ctx_;
  const size_t capacity_;
  // A waiting producer is woken once the buffer has drained to here, not at
  // the first free slot: it then refills a batch per wake-up instead of one
  // message per completed write (a thread hop each).
  const size_t low_water_;
  std::mutex mtx_;
  std::deque<Message> queue_;
  bool writing_ = false;
  bool finishing_ = false;
  bool cancelled_ = false;
  bool done_ = false;
  bool ended_notified_ = false;
  call_status final_;
  std::function<void()> writable_;
  std::function<void()> on_end_;
  // Serialises starting gRPC operations against Finish (see write_front).
  std::recursive_mutex ops_mtx_;
  bool ended_ = false;
  bool headers_sent_ = false;
};

template <class Request, class Response>
class read_reactor final : public grpc::ServerReadReactor<Request>,
                           public client_stream<Request, Response> {
public:
  /// Starts a client-streaming call that reads only with credit; `handler`
  /// gets the messages. Return reactor() from the gRPC method.
  static client_stream_ptr<Request, Response>
  start(grpc::CallbackServerContext* ctx, Response* response,
        std::shared_ptr<client_stream_handler<Request>> handler, std::size_t initial_credit) {
    auto* r = new read_reactor(ctx, response, std::move(handler));
    auto ptr = client_stream_ptr<Request, Response>::share(r);
    r->grant(initial_credit);
    return ptr;
  }
  static grpc::ServerReadReactor<Request>* reactor(const client_stream_ptr<Request, Response>& s) {
    return static_cast<read_reactor*>(s.get());
  }

  void grant(std::size_t n) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      credit_ += n;
      if (reading_ || client_done_ || credit_ == 0 || !this->open())
        return;
      reading_ = true;
    }
    this->StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        reading_ = false;
        client_done_ = true;
      }
      // A broken stream also lands here; OnCancel then ends the call.
      if (this->open())
        handler_->on_client_done();
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      --credit_;
    }
    handler_->on_message(incoming_);
    bool again = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      again = credit_ > 0 && this->open();
      reading_ = again;
    }
    if (again)
      this->StartRead(&incoming_);
  }

  void OnCancel() override {
    auto reason = reason_for_cancel(ctx_);
    this->note_cancel(reason);
    if (this->claim())
      finish_claimed(call_status::from_cancel(reason));
    handler_->on_cancel(reason);
  }

  void OnDone() override {
    handler_.reset();
    note_call_closed();
    this->release();
  }

private:
  read_reactor(grpc::CallbackServerContext* ctx, Response* response,
               std::shared_ptr<client_stream_handler<Request>> handler)
    : client_stream<Request, Response>(response, deadline_of(ctx)),
      ctx_(ctx),
      handler_(std::move(handler)) {
    note_call_opened();
  }

  void finish_claimed(call_status status) override {
    add_trailers(ctx_, status);
    this->Finish(to_grpc_status(status));
  }

  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<client_stream_handler<Request>> handler_;
  std::mutex mtx_;
  Request incoming_;
  std::size_t credit_ = 0;
  bool reading_ = false;
  bool client_done_ = false;
};

} // namespace troupe::rt
