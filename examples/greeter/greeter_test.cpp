// The greeter through the real host: its binary on a free port, a gRPC client.
#include <catch2/catch.hpp>

#include "greeter/v1/greeter.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = greeter::v1;

TEST_CASE("the greeter answers, counting its greetings") {
  troupe::rt::testing::host_process host{GREETER_BINARY};
  auto stub = v1::Greeter::NewStub(host.channel());
  for (int i = 1; i <= 2; ++i) {
    grpc::ClientContext ctx;
    v1::HelloRequest req;
    req.set_name("Ada");
    v1::HelloReply reply;
    REQUIRE(stub->SayHello(&ctx, req, &reply).ok());
    CHECK(reply.message() == "Hello, Ada! (greeting " + std::to_string(i) + ")");
  }
}

TEST_CASE("the greeter refuses a request without a name, naming the field") {
  troupe::rt::testing::host_process host{GREETER_BINARY};
  auto stub = v1::Greeter::NewStub(host.channel());
  grpc::ClientContext ctx;
  v1::HelloReply reply;
  auto status = stub->SayHello(&ctx, v1::HelloRequest{}, &reply);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "name: must not be empty");
}
