// The aggregator through the real host: suppliers answer after 1, 2 and 3
// latency units (acme, initech, globex); the tests use a unit long enough
// for a noisy machine to keep that order.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <thread>

#include "aggregator/v1/aggregator.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = aggregator::v1;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto unit = 400ms;

troupe::rt::testing::host_process start_host() {
  return troupe::rt::testing::host_process{
    AGGREGATOR_BINARY, {"--aggregator-latency-ms", std::to_string(unit.count())}};
}

grpc::Status quote(v1::Aggregator::Stub& stub, const std::string& item, v1::QuoteReply& reply,
                   std::chrono::milliseconds deadline = 10s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  v1::QuoteRequest req;
  req.set_item(item);
  return stub.Quote(&ctx, req, &reply);
}

std::map<std::string, v1::SupplierStats> suppliers(v1::Aggregator::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::SuppliersReply reply;
  REQUIRE(stub.Suppliers(&ctx, v1::SuppliersRequest{}, &reply).ok());
  std::map<std::string, v1::SupplierStats> by_name;
  for (const auto& s : reply.suppliers())
    by_name[s.name()] = s;
  return by_name;
}

// Cancellation reaches a supplier through a message: poll until every
// supplier has settled its one ask, then look at how.
std::map<std::string, v1::SupplierStats> settled(v1::Aggregator::Stub& stub) {
  auto until = clock_type::now() + 10s;
  for (;;) {
    auto by_name = suppliers(stub);
    bool all = true;
    for (auto& [name, s] : by_name)
      all = all && s.quoted() + s.refused() + s.abandoned() == 1;
    if (all || clock_type::now() > until)
      return by_name;
    std::this_thread::sleep_for(20ms);
  }
}

} // namespace

TEST_CASE("a quote lists every supplier's price in the suppliers' order, fetched at once") {
  auto host = start_host();
  auto stub = v1::Aggregator::NewStub(host.channel());
  v1::QuoteReply reply;
  auto began = clock_type::now();
  auto status = quote(*stub, "widget", reply);
  auto took = clock_type::now() - began;
  REQUIRE(status.ok());
  REQUIRE(reply.prices_size() == 3);
  CHECK(reply.prices(0).supplier() == "acme");
  CHECK(reply.prices(0).cents() == 1200);
  CHECK(reply.prices(1).supplier() == "globex");
  CHECK(reply.prices(1).cents() == 1150);
  CHECK(reply.prices(2).supplier() == "initech");
  CHECK(reply.prices(2).cents() == 1300);
  // It waited for the slowest supplier (3 units), but not for all of them
  // one after the other (6 units).
  CHECK(took >= 3 * unit);
  CHECK(took < 6 * unit);
}

TEST_CASE("the first supplier without the item ends the quote, naming it, and cancels the rest") {
  auto host = start_host();
  auto stub = v1::Aggregator::NewStub(host.channel());
  v1::QuoteReply reply;
  auto status = quote(*stub, "gadget", reply);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(status.error_message() == "initech does not carry gadget");

  auto stats = settled(*stub);
  CHECK(stats["acme"].quoted() == 1);      // done at 1 unit, before initech said no at 2
  CHECK(stats["initech"].refused() == 1);
  CHECK(stats["globex"].abandoned() == 1); // would have answered at 3
  CHECK(stats["globex"].quoted() == 0);
}

TEST_CASE("a client deadline cancels every supplier's quote") {
  auto host = start_host();
  auto stub = v1::Aggregator::NewStub(host.channel());
  v1::QuoteReply reply;
  auto status = quote(*stub, "widget", reply, unit / 2);
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);

  auto stats = settled(*stub);
  for (const char* name : {"acme", "globex", "initech"}) {
    INFO(name);
    CHECK(stats[name].abandoned() == 1);
    CHECK(stats[name].quoted() == 0);
  }
}

TEST_CASE("a quote without an item is refused, naming the field") {
  auto host = start_host();
  auto stub = v1::Aggregator::NewStub(host.channel());
  v1::QuoteReply reply;
  auto status = quote(*stub, "", reply);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "item: must not be empty");
}
