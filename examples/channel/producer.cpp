// The reading side of an Ingest call. The next read is granted only once the
// channel has accepted the item before it, so a full channel stops the
// reading: HTTP/2 flow control then holds the client back, and the server
// keeps at most one item per stream outside the channel.

#include "ingest.hpp"

namespace {

class ingest_reader final : public rt::client_stream_handler<v1::Item>,
                            public std::enable_shared_from_this<ingest_reader> {
public:
  ingest_reader(ingest_call call, std::shared_ptr<ingest_pipe> pipe)
    : call_(std::move(call)), pipe_(std::move(pipe)) {}

  void on_message(v1::Item& item) override { offer(std::move(item)); }

  // The consumer answers once it has worked through what the channel holds.
  void on_client_done() override { pipe_->items.close(); }

  void on_bad_message(rt::call_status&) override { pipe_->abandon(); }

  void start() {
    // The token, not on_cancel: it is cancelled however the call ends early,
    // including when the pipeline ends it at the end of the shutdown grace.
    watch_ = call_->token().on_cancel([pipe = pipe_](rt::cancel_reason) { pipe->abandon(); });
    call_->start(shared_from_this(), 1);
  }

private:
  void offer(v1::Item item) {
    switch (pipe_->items.try_send(std::move(item))) {
      case rt::send_result::accepted:
        call_->grant(1);
        return;
      case rt::send_result::full:
        pipe_->times_full.fetch_add(1, std::memory_order_relaxed);
        // try_send left `item` intact. No read is granted while it waits, so
        // nothing else touches held_ until the channel calls back (and the
        // channel's lock orders this write before that callback).
        held_ = std::move(item);
        // Weak: a stream that ends while waiting is freed at once.
        pipe_->items.notify_when_ready([weak = weak_from_this()] {
          if (auto self = weak.lock())
            self->offer(std::move(self->held_));
        });
        return;
      case rt::send_result::closed:
        return; // the call is over: nothing more is read
    }
  }

  ingest_call call_;
  std::shared_ptr<ingest_pipe> pipe_;
  v1::Item held_;
  rt::cancel_registration watch_;
};

} // namespace

void read_into(ingest_call call, std::shared_ptr<ingest_pipe> pipe) {
  std::make_shared<ingest_reader>(std::move(call), std::move(pipe))->start();
}
