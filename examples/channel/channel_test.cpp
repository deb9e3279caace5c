// The channel example through the real host: a client writes items as fast
// as it can; the summary says what the slow consumer saw.
#include <catch2/catch.hpp>

#include <csignal>
#include <thread>

#include "channel/v1/channel.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = channel::v1;
using troupe::rt::testing::host_process;
using std::chrono::milliseconds;

namespace {

struct ingest_result {
  grpc::Status status;
  v1::Summary summary;
  milliseconds last_write_done{0}; // since the stream opened
  milliseconds answered{0};
};

milliseconds since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t);
}

/// Writes items 1..count as fast as the stream takes them.
ingest_result ingest(host_process& host, std::uint64_t count, std::size_t payload_bytes) {
  auto stub = v1::Ingestor::NewStub(host.channel());
  grpc::ClientContext ctx;
  ingest_result r;
  auto opened = std::chrono::steady_clock::now();
  auto writer = stub->Ingest(&ctx, &r.summary);
  v1::Item item;
  item.set_payload(std::string(payload_bytes, 'x'));
  for (std::uint64_t seq = 1; seq <= count; ++seq) {
    item.set_seq(seq);
    if (!writer->Write(item))
      break;
  }
  r.last_write_done = since(opened);
  writer->WritesDone();
  r.status = writer->Finish();
  r.answered = since(opened);
  return r;
}

} // namespace

TEST_CASE("every item reaches the consumer, in order") {
  host_process host{CHANNEL_BINARY, {"--channel-delay-ms", "0", "--channel-capacity", "16"}};
  auto r = ingest(host, 5000, 10);
  REQUIRE(r.status.ok());
  CHECK(r.summary.items() == 5000);
  CHECK(r.summary.last_seq() == 5000);
  CHECK(r.summary.out_of_order() == 0);
  CHECK(r.summary.capacity() == 16);
}

TEST_CASE("a slow consumer throttles a fast producer") {
  constexpr std::uint64_t items = 100;
  constexpr int delay_ms = 10;
  host_process host{CHANNEL_BINARY,
                    {"--channel-delay-ms", std::to_string(delay_ms), "--channel-capacity", "4"}};
  auto r = ingest(host, items, 32 * 1024);
  REQUIRE(r.status.ok());
  CHECK(r.summary.items() == items);
  CHECK(r.summary.out_of_order() == 0);
  // Almost every item found the channel full, and waited for room.
  CHECK(r.summary.times_full() >= items / 2);
  // Each item's timer starts after the one before's: no answer sooner.
  CHECK(r.answered >= milliseconds(items * delay_ms));
  // Unthrottled, the client would have written its 3.2 MB within a few
  // milliseconds; held back, it is done only near the end (the channel,
  // one held item and the HTTP/2 windows ahead of the consumer).
  CHECK(r.last_write_done >= milliseconds(items * delay_ms / 2));
}

TEST_CASE("a bad item ends the stream INVALID_ARGUMENT, naming it, and stops its consumer") {
  host_process host{CHANNEL_BINARY, {"--channel-delay-ms", "5", "--channel-capacity", "4"}};
  auto stub = v1::Ingestor::NewStub(host.channel());
  grpc::ClientContext ctx;
  v1::Summary summary;
  auto writer = stub->Ingest(&ctx, &summary);
  v1::Item item;
  for (std::uint64_t seq : {1, 2, 3, 0, 5}) {
    item.set_seq(seq);
    writer->Write(item); // false once the server has ended the stream
  }
  writer->WritesDone();
  auto status = writer->Finish();
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "request[3].seq: must be 1 or more");
  // A consumer still waiting for items would keep the actor system, and
  // so the host, from exiting.
  host.send_signal(SIGTERM);
  CHECK(host.wait_exit(std::chrono::seconds(20)) == 0);
}

TEST_CASE("streams that end early do not keep the host from shutting down") {
  host_process host{CHANNEL_BINARY,
                    {"--channel-delay-ms", "5", "--server-shutdown-grace-ms", "500"}};
  auto stub = v1::Ingestor::NewStub(host.channel());
  v1::Item item;
  item.set_seq(1);

  grpc::ClientContext cancelled_ctx;
  v1::Summary cancelled_summary;
  auto cancelled = stub->Ingest(&cancelled_ctx, &cancelled_summary);
  REQUIRE(cancelled->Write(item));
  cancelled_ctx.TryCancel();
  CHECK(cancelled->Finish().error_code() == grpc::StatusCode::CANCELLED);

  // Still open when the grace period ends: the host ends it UNAVAILABLE.
  grpc::ClientContext stalled_ctx;
  v1::Summary stalled_summary;
  auto stalled = stub->Ingest(&stalled_ctx, &stalled_summary);
  REQUIRE(stalled->Write(item));
  // Time for the host to take the call in: a call that arrives after the
  // signal is refused at once, which would prove nothing here.
  std::this_thread::sleep_for(milliseconds(300));
  host.send_signal(SIGTERM);
  CHECK(stalled->Finish().error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(host.wait_exit(std::chrono::seconds(20)) == 0);
}
