// Sum: reads with credit. The adder allows `window` reads ahead and renews
// one per number it has added, so the pipeline never takes more of the
// stream than the adder asked for. Each number was parsed and validated
// (.validate in streams.cpp) before it gets here.

#include "streams.hpp"

namespace {

constexpr std::size_t window = 8;

class adder final : public rt::client_stream_handler<v1::Number> {
public:
  explicit adder(sum_call call) : call_(std::move(call)) {}

  // One stream's callbacks never run concurrently: no lock needed.
  void on_message(v1::Number& number) override {
    total_ += number.value();
    ++count_;
    call_->grant(1);
  }

  void on_client_done() override {
    call_->reply([&](v1::Total& t) {
      t.set_sum(total_);
      t.set_count(count_);
    });
  }

private:
  sum_call call_;
  std::int64_t total_ = 0;
  std::uint64_t count_ = 0;
};

} // namespace

void sum(sum_call call) {
  auto reader = std::make_shared<adder>(call);
  call->start(std::move(reader), window);
}
