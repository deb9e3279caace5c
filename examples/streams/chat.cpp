// Chat: each line back, upper-cased. The next line is read only once the
// echo of this one is in the stream's buffer: a client that keeps sending
// but never reads fills that buffer, and is then simply not read any more
// (HTTP/2 flow control holds it back) instead of the server queueing echoes.

#include <cctype>

#include "streams.hpp"

namespace {

class echo final : public rt::client_stream_handler<v1::Line>,
                   public std::enable_shared_from_this<echo> {
public:
  explicit echo(chat_call call) : call_(std::move(call)) {}

  void on_message(v1::Line& line) override {
    for (auto& c : *line.mutable_text())
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    send(std::move(line));
  }

  // Ends the stream once the echoes already accepted are written.
  void on_client_done() override { call_->finish(rt::call_status::success()); }

private:
  void send(v1::Line line) {
    switch (call_->push(line)) {
      case rt::push_result::accepted:
        call_->grant(1);
        return;
      case rt::push_result::full:
        // Nothing is read while it waits, so nothing else touches held_.
        held_ = std::move(line);
        call_->when_writable([weak = weak_from_this()] {
          if (auto self = weak.lock())
            self->send(std::move(self->held_));
        });
        return;
      case rt::push_result::ended:
        return;
    }
  }

  chat_call call_;
  v1::Line held_;
};

} // namespace

void chat(chat_call call) {
  auto reader = std::make_shared<echo>(call);
  call->start(std::move(reader), 1);
}
