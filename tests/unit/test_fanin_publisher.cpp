// A Publish stream's credit and hold-one-message back-pressure, against a
// real bounded queue and a fake client stream.

#include <catch2/catch.hpp>

#include <algorithm>

#include "fanin/publisher.hpp"
#include "troupe/rt/testing/fake_calls.hpp"

namespace rt = troupe::rt;
namespace v1 = troupe::fanin::v1;
using troupe::fanin::inbound_ptr;
using troupe::fanin::publisher;
using troupe::fanin::topic_inlet;

namespace {

using fake_client = rt::testing::fake_client_stream<v1::PublishRequest, v1::PublishResponse>;

struct fixture {
  std::shared_ptr<topic_inlet> topic = std::make_shared<topic_inlet>("t", 2);
  std::pair<publisher::stream_ptr, fake_client*> made = fake_client::make();
  fake_client* client = made.second;
  std::shared_ptr<publisher> pub = std::make_shared<publisher>(
    [this](const std::string& name) -> std::variant<std::shared_ptr<topic_inlet>, rt::call_status> {
      if (name == "t")
        return topic;
      return rt::call_status::of(rt::status_code::resource_exhausted, "no more topics");
    });

  fixture() { pub->attach(made.first); }
  ~fixture() {
    // The pipeline lets go of the consumer when the call is over.
    client->handler.reset();
  }

  // What the pipeline does: spend one credit per message.
  void send(const std::string& topic_name, const std::string& payload) {
    v1::PublishRequest r;
    r.set_topic(topic_name);
    r.set_payload(payload);
    r.set_producer("p");
    REQUIRE(client->send(r));
  }

  std::vector<std::string> drain_topic() {
    std::vector<std::string> out;
    topic->queue.drain(100, [&](inbound_ptr&& e) { out.push_back(e->payload); });
    return out;
  }

  std::string trailer(const std::string& key) const {
    for (auto& [k, v] : client->status.trailers)
      if (k == key)
        return v;
    return "";
  }
};

} // namespace

TEST_CASE("a publisher reads one message at a time and holds one when the topic is full",
          "[fanin]") {
  fixture f;
  CHECK(f.client->credit == 1);
  f.send("t", "1");
  f.send("t", "2");
  CHECK(f.pub->accepted() == 2);
  CHECK(f.client->credit == 1);
  f.send("t", "3"); // the queue holds 2: this one waits
  CHECK(f.pub->holding());
  CHECK(f.client->credit == 0); // nothing more is read from the client
  CHECK(f.topic->queue.waiting_producers() == 1);
  CHECK(f.topic->queue.size() == 2);

  // The topic takes its queue: the held message goes in, reading resumes.
  CHECK(f.drain_topic() == std::vector<std::string>{"1", "2"});
  CHECK_FALSE(f.pub->holding());
  CHECK(f.pub->accepted() == 3);
  CHECK(f.client->credit == 1);
  CHECK(f.drain_topic() == std::vector<std::string>{"3"});

  f.pub->on_client_done();
  CHECK(f.client->finished);
  CHECK(f.client->status.ok());
  CHECK(f.client->response.accepted() == 3);
}

TEST_CASE("a cancelled publisher frees its held message", "[fanin]") {
  fixture f;
  f.send("t", "1");
  f.send("t", "2");
  f.send("t", "3");
  REQUIRE(f.pub->holding());
  f.pub->on_cancel(rt::cancel_reason::client_cancelled);
  f.client->handler.reset(); // as the pipeline does once the call is over
  CHECK_FALSE(f.pub->holding());
  // Its waiter is a no-op now: the message never lands.
  CHECK(f.drain_topic() == std::vector<std::string>{"1", "2"});
  CHECK(f.topic->queue.size() == 0);
  CHECK(f.pub->accepted() == 2);
  // Once the call is gone, the waiter does not keep the publisher alive.
  std::weak_ptr<publisher> weak = f.pub;
  f.pub.reset();
  CHECK(weak.expired());
}

TEST_CASE("a message the pipeline refuses ends the stream; earlier ones stay accepted",
          "[fanin]") {
  fixture f;
  f.send("t", "1");
  // The pipeline found message 1 invalid: the consumer adds its count, and
  // the pipeline ends the call with the status.
  auto status = rt::call_status::invalid_argument("request[1].payload", "too long");
  f.pub->on_bad_message(status);
  auto accepted = std::find(status.trailers.begin(), status.trailers.end(),
                            std::pair<std::string, std::string>{"troupe-accepted", "1"});
  CHECK(accepted != status.trailers.end());
  // Whatever comes after is not taken.
  f.client->credit = 1;
  f.send("t", "2");
  CHECK(f.drain_topic() == std::vector<std::string>{"1"});
  CHECK(f.pub->accepted() == 1);
}

TEST_CASE("a topic that cannot be had, or a closed one, ends the stream", "[fanin]") {
  {
    fixture f;
    f.send("other", "1");
    CHECK(f.client->status.code == rt::status_code::resource_exhausted);
    CHECK(f.trailer("troupe-accepted") == "0");
  }
  {
    fixture f;
    f.send("t", "1");
    f.send("t", "2");
    f.send("t", "3");
    REQUIRE(f.pub->holding());
    // Shutdown closes the queue: the waiting producer is woken and told.
    f.topic->queue.close();
    CHECK(f.client->status.code == rt::status_code::unavailable);
    CHECK(f.trailer("troupe-accepted") == "2");
    CHECK(f.drain_topic() == std::vector<std::string>{"1", "2"});
  }
  {
    fixture f;
    f.send("t", "1");
    f.pub->shut_down();
    CHECK(f.client->status.code == rt::status_code::unavailable);
    CHECK(f.trailer("troupe-accepted") == "1");
  }
}
