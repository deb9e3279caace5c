// The fan-in topic's retention ring and input rules, without any server.

#include <catch2/catch.hpp>

#include "fanin/event_ring.hpp"
#include "fanin/validation.hpp"

using troupe::fanin::event_ring;

namespace {

void fill(event_ring& ring, int n) {
  for (int i = 0; i < n; ++i)
    ring.append("e" + std::to_string(ring.last_seq() + 1), "p", 7);
}

} // namespace

TEST_CASE("event_ring numbers events 1, 2, 3 and keeps the last `capacity`", "[fanin]") {
  event_ring ring("t", 4);
  CHECK(ring.last_seq() == 0);
  CHECK(ring.first_seq() == 1);
  CHECK(ring.find(0) == nullptr);
  CHECK(ring.find(1) == nullptr);

  auto first = ring.append("a", "p1", 42).decode();
  CHECK(first.seq() == 1);
  CHECK(first.topic() == "t");
  CHECK(first.payload() == "a");
  CHECK(first.producer() == "p1");
  CHECK(first.publish_unix_nanos() == 42);

  fill(ring, 2);
  CHECK(ring.size() == 3);
  CHECK(ring.first_seq() == 1);
  CHECK(ring.find(3)->decode().payload() == "e3");

  // Wraps: the oldest go, every retained seq is still found where it was.
  fill(ring, 7);
  CHECK(ring.last_seq() == 10);
  CHECK(ring.size() == 4);
  CHECK(ring.first_seq() == 7);
  CHECK(ring.find(6) == nullptr);
  CHECK(ring.find(11) == nullptr);
  for (std::uint64_t seq = 7; seq <= 10; ++seq) {
    REQUIRE(ring.find(seq) != nullptr);
    CHECK(ring.find(seq)->seq() == seq);
    CHECK(ring.find(seq)->decode().seq() == seq);
    CHECK(ring.find(seq)->decode().payload() == "e" + std::to_string(seq));
    CHECK(ring.find(seq)->decode().topic() == "t");
  }
}

TEST_CASE("event_ring says whether a resume point is retained", "[fanin]") {
  event_ring ring("t", 3);
  using rc = event_ring::resume_check;
  CHECK(ring.check_resume(0) == rc::ok);
  CHECK(ring.check_resume(1) == rc::beyond_last);
  fill(ring, 5); // retains 3, 4, 5
  CHECK(ring.check_resume(1) == rc::too_old);
  CHECK(ring.check_resume(2) == rc::ok); // next wanted is 3, the oldest retained
  CHECK(ring.check_resume(5) == rc::ok);
  CHECK(ring.check_resume(6) == rc::beyond_last);
}

TEST_CASE("event_ring with capacity 1 and a zero capacity", "[fanin]") {
  event_ring one("t", 1);
  fill(one, 3);
  CHECK(one.first_seq() == 3);
  CHECK(one.find(3)->decode().payload() == "e3");
  CHECK(one.find(2) == nullptr);
  CHECK_THROWS_AS(event_ring("t", 0), std::invalid_argument);
}

TEST_CASE("topic names follow [A-Za-z0-9._-]{1,128}", "[fanin]") {
  using troupe::fanin::valid_topic_name;
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("Orders.EU-west_2"));
  CHECK(valid_topic_name(std::string(128, 'x')));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name(std::string(129, 'x')));
  CHECK_FALSE(valid_topic_name("a b"));
  CHECK_FALSE(valid_topic_name("a/b"));
  CHECK_FALSE(valid_topic_name("caf\xc3\xa9"));
}

TEST_CASE("publish and subscribe validation names the field", "[fanin]") {
  namespace v1 = troupe::fanin::v1;
  using troupe::fanin::check;
  v1::PublishRequest p;
  p.set_topic("t");
  p.set_payload(std::string(10, 'x'));
  CHECK_FALSE(check(p, 10));
  auto big = check(p, 9);
  REQUIRE(big);
  CHECK(big->message.rfind("payload:", 0) == 0);
  p.set_topic("bad topic");
  REQUIRE(check(p, 10));
  CHECK(check(p, 10)->message.rfind("topic:", 0) == 0);

  v1::SubscribeRequest s;
  REQUIRE(check(s));
  CHECK(check(s)->message.rfind("topics:", 0) == 0);
  s.add_topics("ok");
  s.add_topics("not ok");
  REQUIRE(check(s));
  CHECK(check(s)->message.rfind("topics[1]:", 0) == 0);
  s.clear_topics();
  s.add_topics("a");
  s.add_topics("a"); // duplicates are allowed, and merged later
  CHECK_FALSE(check(s));
  (*s.mutable_start_after())["b"] = 3;
  REQUIRE(check(s));
  CHECK(check(s)->message.rfind("start_after:", 0) == 0);
  s.clear_start_after();
  s.add_topics("A");
  REQUIRE(check(s)); // same trailer key as "a"
  CHECK(check(s)->message.rfind("topics:", 0) == 0);
}

TEST_CASE("last-seq trailer keys are lowercase", "[fanin]") {
  CHECK(troupe::fanin::last_seq_key("orders") == "troupe-last-seq-orders");
  CHECK(troupe::fanin::last_seq_key("Orders.EU_1-x") == "troupe-last-seq-orders.eu_1-x");
}
