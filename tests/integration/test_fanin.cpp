// troupe.fanin.v1.FanIn through the C++ gRPC client against the real
// binary: many producers into one topic, several subscribers out, with every
// seq and every producer's order checked, and the delivered rate reported.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "troupe/fanin/v1/fanin.grpc.pb.h"
#include "troupe_process.hpp"

using namespace std::chrono_literals;
using troupe::test::code_name;
using troupe::test::server_process;
namespace v1 = troupe::fanin::v1;

namespace {

struct received {
  std::uint64_t seq = 0;
  std::uint32_t producer = 0;
  std::uint32_t counter = 0;
};

std::string payload_for(std::uint32_t producer, std::uint32_t counter, std::size_t size) {
  auto p = std::to_string(producer) + ":" + std::to_string(counter) + ":";
  if (p.size() < size)
    p.append(size - p.size(), 'x');
  return p;
}

received parse(const v1::Event& e) {
  received r;
  r.seq = e.seq();
  auto colon = e.payload().find(':');
  r.producer = static_cast<std::uint32_t>(std::stoul(e.payload().substr(0, colon)));
  r.counter = static_cast<std::uint32_t>(std::stoul(e.payload().substr(colon + 1)));
  return r;
}

// A subscriber on its own thread: registered (headers received) when the
// constructor returns, reading until it has `want` events or the call ends.
class subscriber {
public:
  subscriber(const std::shared_ptr<grpc::Channel>& ch, const std::string& topic, std::size_t want)
    : stub_(v1::FanIn::NewStub(ch)), want_(want) {
    v1::SubscribeRequest req;
    req.add_topics(topic);
    ctx_.set_deadline(std::chrono::system_clock::now() + 300s);
    reader_ = stub_->Subscribe(&ctx_, req);
    reader_->WaitForInitialMetadata();
    events_.reserve(want);
    thread_ = std::thread([this] { run(); });
  }
  ~subscriber() {
    ctx_.TryCancel();
    if (thread_.joinable())
      thread_.join();
  }

  void join() { thread_.join(); }
  const std::vector<received>& events() const { return events_; }
  const grpc::Status& status() const { return status_; }

private:
  void run() {
    v1::Event e;
    while (events_.size() < want_ && reader_->Read(&e))
      events_.push_back(parse(e));
    if (events_.size() >= want_)
      ctx_.TryCancel();
    status_ = reader_->Finish();
  }

  std::unique_ptr<v1::FanIn::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader_;
  std::size_t want_;
  std::vector<received> events_;
  grpc::Status status_;
  std::thread thread_;
};

struct publish_result {
  grpc::Status status;
  std::uint64_t accepted = 0;
};

publish_result publish(const std::shared_ptr<grpc::Channel>& ch, const std::string& topic,
                       std::uint32_t producer, std::uint32_t count, std::size_t size) {
  auto stub = v1::FanIn::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 300s);
  v1::PublishResponse resp;
  auto writer = stub->Publish(&ctx, &resp);
  v1::PublishRequest req;
  req.set_topic(topic);
  req.set_producer("p" + std::to_string(producer));
  for (std::uint32_t i = 0; i < count; ++i) {
    req.set_payload(payload_for(producer, i, size));
    if (!writer->Write(req))
      break;
  }
  writer->WritesDone();
  publish_result r;
  r.status = writer->Finish();
  r.accepted = resp.accepted();
  return r;
}

// Seqs run 1..n exactly; each producer's counters run 0, 1, 2, ... in order.
void check_exact(const std::vector<received>& events, std::size_t n, std::uint32_t producers,
                 std::uint32_t per_producer) {
  REQUIRE(events.size() == n);
  std::vector<std::uint32_t> next(producers, 0);
  std::size_t bad_seq = 0, bad_order = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].seq != i + 1)
      ++bad_seq;
    auto& e = events[i];
    if (e.producer >= producers || e.counter != next[e.producer]++)
      ++bad_order;
  }
  CHECK(bad_seq == 0);
  CHECK(bad_order == 0);
  for (auto n_got : next)
    CHECK(n_got == per_producer);
}

struct fan_in_run {
  double seconds = 0;
  std::size_t events = 0;
  std::size_t delivered = 0;
};

fan_in_run run_fan_in(server_process& server, std::uint32_t producers, std::uint32_t per_producer,
                      std::size_t subscribers, std::size_t payload) {
  const std::size_t total = std::size_t{producers} * per_producer;
  std::vector<std::unique_ptr<subscriber>> subs;
  for (std::size_t s = 0; s < subscribers; ++s)
    subs.push_back(std::make_unique<subscriber>(server.channel(), "load", total));
  // Producers spread over a few connections, as separate clients would be.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < 5; ++c)
    channels.push_back(server.channel());
  std::vector<publish_result> results(producers);
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      results[p] = publish(channels[p % channels.size()], "load", p, per_producer, payload);
    });
  for (auto& t : threads)
    t.join();
  for (auto& s : subs)
    s->join();
  fan_in_run run;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  run.events = total;
  for (auto& r : results) {
    INFO(code_name(r.status.error_code()) << ": " << r.status.error_message());
    CHECK(r.status.ok());
    CHECK(r.accepted == per_producer);
  }
  for (auto& s : subs) {
    INFO("subscriber ended " << code_name(s->status().error_code()) << ": "
                             << s->status().error_message());
    check_exact(s->events(), total, producers, per_producer);
    run.delivered += s->events().size();
  }
  return run;
}

} // namespace

TEST_CASE("fanin: 50 producers into one topic, 4 subscribers get every seq in order",
          "[fanin]") {
  // A buffer no subscriber can overflow here: this run checks exactness,
  // not the cut-off (the Python suite covers slow subscribers).
  server_process server({"--kv-backend", "memory", "--fanin-subscriber-buffer", "1000000"});
  auto run = run_fan_in(server, 50, 1000, 4, 100);
  std::fprintf(stderr, "    fanin: 50 producers -> 1 topic -> 4 subscribers: %zu events, %zu "
                       "delivered in %.2f s (%.0f delivered/s)\n",
               run.events, run.delivered, run.seconds, run.delivered / run.seconds);
}

TEST_CASE("fanin: shutdown ends subscriber streams after the accepted events", "[fanin]") {
  // A grace period far longer than the test allows: the streams must be
  // ended by the service's drain, not cancelled when the grace runs out.
  server_process server({"--kv-backend", "memory", "--fanin-topic-delay-ms", "50",
                         "--fanin-topic-queue", "5000", "--fanin-subscriber-buffer", "100000",
                         "--server-shutdown-grace-ms", "60000"});
  subscriber sub(server.channel(), "bye", 1000000);
  auto r = publish(server.channel(), "bye", 0, 4000, 100);
  REQUIRE(r.status.ok());
  REQUIRE(r.accepted == 4000);
  // The topic takes 256 events per 50 ms: most are still queued now.
  auto signalled = std::chrono::steady_clock::now();
  server.send_signal(SIGTERM);
  sub.join();
  INFO("subscriber ended with " << code_name(sub.status().error_code()) << ": "
                                << sub.status().error_message());
  check_exact(sub.events(), 4000, 1, 4000);
  // OK, as the server ends the stream; the host may close the connection
  // before the client read the trailers, which the client reports as
  // UNAVAILABLE (the issue allows either).
  INFO(code_name(sub.status().error_code()) << ": " << sub.status().error_message());
  CHECK((sub.status().ok() || sub.status().error_code() == grpc::StatusCode::UNAVAILABLE));
  CHECK(server.wait_exit(20s) == 0);
  CHECK(std::chrono::steady_clock::now() - signalled < 10s);
}

// At full flood the 4 client readers share the 2 cores with 50 writers and
// the server, and fall behind a 1,024-event buffer now and then (they are
// cut off, as they should be); this measures throughput, so their buffer is
// large enough that every event reaches every subscriber.
TEST_CASE("fanin load: 50 producers -> 1 topic -> 4 subscribers, 100-byte payloads",
          "[.][fanin-bench]") {
  server_process server({"--kv-backend", "memory", "--fanin-subscriber-buffer", "1000000"});
  auto run = run_fan_in(server, 50, 4000, 4, 100);
  std::fprintf(stderr, "    fanin load: %zu events, %zu delivered in %.2f s (%.0f delivered/s)\n",
               run.events, run.delivered, run.seconds, run.delivered / run.seconds);
}
