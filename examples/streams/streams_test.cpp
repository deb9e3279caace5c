// The streams example through the real host, one method at a time.
#include <catch2/catch.hpp>

#include <thread>

#include "streams/v1/streams.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = streams::v1;
using troupe::rt::testing::host_process;

namespace {

/// Reads the whole Count(n) stream; `pause_after_first` idles after the
/// first number, as a slow reader would.
std::vector<std::int64_t> count(v1::Streams::Stub& stub, std::uint32_t n, grpc::Status& status,
                                std::string& longest_wait_ms,
                                std::chrono::milliseconds pause_after_first = {}) {
  grpc::ClientContext ctx;
  v1::CountRequest req;
  req.set_n(n);
  auto reader = stub.Count(&ctx, req);
  std::vector<std::int64_t> got;
  v1::Number number;
  while (reader->Read(&number)) {
    got.push_back(number.value());
    if (got.size() == 1)
      std::this_thread::sleep_for(pause_after_first);
  }
  status = reader->Finish();
  auto it = ctx.GetServerTrailingMetadata().find("streams-longest-wait-ms");
  if (it != ctx.GetServerTrailingMetadata().end())
    longest_wait_ms = std::string(it->second.data(), it->second.size());
  return got;
}

std::vector<std::int64_t> one_to(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 1; i <= n; ++i)
    v.push_back(i);
  return v;
}

} // namespace

TEST_CASE("Count streams 1..n in order") {
  host_process host{STREAMS_BINARY};
  auto stub = v1::Streams::NewStub(host.channel());
  grpc::Status status;
  std::string longest_wait_ms;
  CHECK(count(*stub, 1000, status, longest_wait_ms) == one_to(1000));
  CHECK(status.ok());
  CHECK(count(*stub, 0, status, longest_wait_ms).empty());
  CHECK(status.ok());
}

TEST_CASE("Count waits for a reader that stops reading, then resumes in order") {
  host_process host{STREAMS_BINARY};
  // Without BDP probing the client's window stays at 64 KiB (~7000 numbers),
  // so a pause fills it and the server's buffer behind it.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel = grpc::CreateCustomChannel(host.target(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::Streams::NewStub(channel);
  grpc::Status status;
  std::string longest_wait_ms;
  auto got = count(*stub, 50000, status, longest_wait_ms, std::chrono::milliseconds(500));
  CHECK(status.ok());
  CHECK(got == one_to(50000));
  // The count stopped while the client did not read (but for the moment it
  // took to fill the windows and the buffer) instead of running ahead into
  // memory. A client that keeps reading never holds it back for long.
  REQUIRE_FALSE(longest_wait_ms.empty());
  CHECK(std::stoul(longest_wait_ms) >= 250);
}

TEST_CASE("Sum adds up every number sent") {
  host_process host{STREAMS_BINARY};
  auto stub = v1::Streams::NewStub(host.channel());
  auto sum = [&](const std::vector<std::int64_t>& numbers, v1::Total& total) {
    grpc::ClientContext ctx;
    auto writer = stub->Sum(&ctx, &total);
    v1::Number n;
    for (auto v : numbers) {
      n.set_value(v);
      REQUIRE(writer->Write(n));
    }
    writer->WritesDone();
    return writer->Finish();
  };
  v1::Total total;
  REQUIRE(sum(one_to(100), total).ok());
  CHECK(total.sum() == 5050);
  CHECK(total.count() == 100);
  REQUIRE(sum({-1000000000, 1000000000, -7}, total).ok());
  CHECK(total.sum() == -7);
  CHECK(total.count() == 3);
  REQUIRE(sum({}, total).ok());
  CHECK(total.sum() == 0);
  CHECK(total.count() == 0);
}

TEST_CASE("Sum ends INVALID_ARGUMENT at an invalid number, naming request[i]") {
  host_process host{STREAMS_BINARY};
  auto stub = v1::Streams::NewStub(host.channel());
  grpc::ClientContext ctx;
  v1::Total total;
  auto writer = stub->Sum(&ctx, &total);
  v1::Number n;
  for (std::int64_t v : std::vector<std::int64_t>{1, 2, 3'000'000'000, 4}) {
    n.set_value(v);
    writer->Write(n); // false once the server has ended the call
  }
  writer->WritesDone();
  auto status = writer->Finish();
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "request[2].value: must be within +-1000000000");
}

TEST_CASE("Chat echoes each line upper-cased, one exchange at a time") {
  host_process host{STREAMS_BINARY};
  auto stub = v1::Streams::NewStub(host.channel());
  grpc::ClientContext ctx;
  auto stream = stub->Chat(&ctx);
  v1::Line line;
  for (std::string text : {"hello", "again, please"}) {
    line.set_text(text);
    REQUIRE(stream->Write(line));
    v1::Line echo;
    REQUIRE(stream->Read(&echo));
    std::string upper;
    for (char c : text)
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(echo.text() == upper);
  }
  stream->WritesDone();
  v1::Line extra;
  CHECK_FALSE(stream->Read(&extra));
  CHECK(stream->Finish().ok());
}

TEST_CASE("Chat keeps the order of lines sent ahead of their echoes") {
  host_process host{STREAMS_BINARY};
  auto stub = v1::Streams::NewStub(host.channel());
  grpc::ClientContext ctx;
  auto stream = stub->Chat(&ctx);
  v1::Line line;
  // Small enough to fit the HTTP/2 windows while nothing is read back.
  for (int i = 0; i < 500; ++i) {
    line.set_text("line " + std::to_string(i));
    REQUIRE(stream->Write(line));
  }
  stream->WritesDone();
  std::vector<std::string> echoes, expected;
  while (stream->Read(&line))
    echoes.push_back(line.text());
  for (int i = 0; i < 500; ++i)
    expected.push_back("LINE " + std::to_string(i));
  CHECK(echoes == expected);
  CHECK(stream->Finish().ok());
}
