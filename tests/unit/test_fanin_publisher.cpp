// A Publish stream's credit and hold-one-message back-pressure, against a
// real bounded queue and a fake client stream.

#include <catch2/catch.hpp>

#include "fanin/publisher.hpp"

namespace rt = troupe::rt;
namespace v1 = troupe::fanin::v1;
using troupe::fanin::inbound_ptr;
using troupe::fanin::publisher;
using troupe::fanin::topic_inlet;

namespace {

class fake_client final : public rt::client_stream<v1::PublishRequest, v1::PublishResponse> {
public:
  fake_client() : client_stream(&response, rt::deadline::never()) {}
  void grant(std::size_t n) override { credit += n; }

  v1::PublishResponse response;
  std::size_t credit = 0;
  bool finished = false;
  rt::call_status status;

private:
  void finish_claimed(rt::call_status s) override {
    finished = true;
    status = std::move(s);
  }
};

struct fixture {
  std::shared_ptr<topic_inlet> topic = std::make_shared<topic_inlet>("t", 2);
  fake_client* client = new fake_client();
  std::shared_ptr<publisher> pub = std::make_shared<publisher>(
    [this](const std::string& name) -> std::variant<std::shared_ptr<topic_inlet>, rt::call_status> {
      if (name == "t")
        return topic;
      return rt::call_status::of(rt::status_code::resource_exhausted, "no more topics");
    },
    100);

  fixture() { pub->attach(publisher::stream_ptr::adopt(client)); }

  // What the reactor does: spend one credit per message.
  void send(const std::string& topic_name, const std::string& payload) {
    REQUIRE(client->credit > 0);
    --client->credit;
    v1::PublishRequest r;
    r.set_topic(topic_name);
    r.set_payload(payload);
    r.set_producer("p");
    pub->on_message(r);
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

TEST_CASE("an invalid message ends the stream; earlier ones stay accepted", "[fanin]") {
  fixture f;
  f.send("t", "1");
  f.send("t", std::string(101, 'x'));
  CHECK(f.client->finished);
  CHECK(f.client->status.code == rt::status_code::invalid_argument);
  CHECK(f.client->status.message.rfind("payload:", 0) == 0);
  CHECK(f.trailer("troupe-accepted") == "1");
  CHECK(f.client->credit == 0);
  CHECK(f.drain_topic() == std::vector<std::string>{"1"});
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
