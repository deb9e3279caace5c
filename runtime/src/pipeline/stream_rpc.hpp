#pragma once

// A streaming call on gRPC's async API (every streaming kind is a bidi stream
// underneath). The reading side reads only with credit; the writing side
// keeps a bounded buffer with one write in flight and finishes after it has
// drained. Operations are started under the call's lock, from whatever
// thread the service uses; their completions come back on the call's lane.
// Nothing of the service (handlers, callbacks) is called under that lock.

#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "pipeline/rpc.hpp"

namespace troupe::rt::detail {

class stream_rpc final : public rpc_base {
public:
  stream_rpc(pipeline_state& state, const method_entry& method, lane& home, void* typed_storage);

  void post() override;

  push_result push(const google::protobuf::MessageLite& msg) override;
  push_result push_encoded(grpc::ByteBuffer& bytes) override;
  void when_writable(std::function<void()> fn) override;
  void send_headers() override;
  void finish_stream(call_status&& status) override;
  void abort_stream(call_status&& status) override;
  void on_end(std::function<void()> fn) override;

  void start_reading(std::size_t credit) override;
  void grant(std::size_t n) override;

  /// The one answer of a client-streaming call: message and status.
  void send_reply(call_status&& status, const google::protobuf::MessageLite* response) override;

private:
  enum class read_phase {
    request,  // server-streaming: its one request
    extra,    // server-streaming: the client's end of stream (a second message is an error)
    messages, // client-streaming, bidi: the stream of requests
  };
  struct outgoing {
    grpc::ByteBuffer bytes;
    bool headers_only = false;
  };

  void arrived(bool ok);
  void read_done(bool ok);
  void write_done(bool ok);
  void finish_done(bool ok);
  void done(bool ok);

  void read_request(bool ok);
  void read_message(bool ok);

  // Under mtx_.
  void start_read_locked();
  void maybe_read_locked();
  void write_front_locked();
  void start_finish_locked();
  bool ended_locked() const;
  std::function<void()> take_writable_locked();

  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_;
  tag<stream_rpc, &stream_rpc::arrived> arrived_tag_{this};
  tag<stream_rpc, &stream_rpc::read_done> read_tag_{this};
  tag<stream_rpc, &stream_rpc::write_done> write_tag_{this};
  tag<stream_rpc, &stream_rpc::finish_done> finish_tag_{this};
  tag<stream_rpc, &stream_rpc::done> done_tag_{this};

  std::mutex mtx_;

  // Reading.
  grpc::ByteBuffer incoming_;
  read_phase phase_ = read_phase::messages;
  bool reading_allowed_ = false; // the service attached its consumer
  bool reading_ = false;
  bool reads_over_ = false;
  std::size_t credit_ = 0;
  std::size_t index_ = 0;

  // Writing.
  std::deque<outgoing> queue_;
  std::size_t capacity_ = 64;
  std::size_t low_water_ = 32;
  bool writing_ = false;
  bool headers_sent_ = false;
  bool finish_wanted_ = false;
  bool finish_started_ = false;
  call_status final_;
  std::optional<grpc::ByteBuffer> final_message_;

  // The call is over on the gRPC side.
  bool done_ = false;
  std::function<void()> writable_;
  std::function<void()> on_end_;
};

} // namespace troupe::rt::detail
