// A topic's fan-out, replay and cut-off rules, driven by hand: fake
// subscriber streams stand in for gRPC and the test plays the actor.

#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "fanin/topic_state.hpp"
#include "troupe/rt/testing/fake_calls.hpp"

namespace rt = troupe::rt;
namespace v1 = troupe::fanin::v1;
using troupe::fanin::inbound_event;
using troupe::fanin::sub_signal;
using troupe::fanin::subscription;
using troupe::fanin::topic_state;

namespace {

using rt::testing::fake_server_stream;

/// What the client of `stream` reads next, parsed back into events.
std::vector<v1::Event> read(fake_server_stream* stream, std::size_t n) {
  std::vector<v1::Event> out;
  for (auto& bytes : stream->read(n))
    REQUIRE(troupe::fanin::decode_event(bytes, out.emplace_back()));
  return out;
}

struct signal_log {
  std::vector<std::pair<std::size_t, sub_signal>> got;
  subscription::notify_fn fn() {
    return [this](std::size_t slot, sub_signal s) { got.emplace_back(slot, s); };
  }
};

struct fixture {
  signal_log signals;
  std::uint64_t next_id = 1;

  std::pair<std::shared_ptr<subscription>, fake_server_stream*>
  make_sub(std::vector<std::string> topics, std::size_t buffer) {
    auto [stream, raw] = fake_server_stream::make(buffer);
    auto sub = std::make_shared<subscription>(next_id++, stream, std::move(topics), buffer,
                                              signals.fn());
    return {sub, raw};
  }
};

void publish(topic_state& t, int n, const std::string& producer = "p") {
  for (int i = 0; i < n; ++i) {
    inbound_event e;
    e.payload = producer + ":" + std::to_string(t.last_seq() + 1);
    e.producer = producer;
    t.append(std::move(e));
  }
  t.fan_out();
}

std::vector<std::uint64_t> seqs(const std::vector<v1::Event>& events) {
  std::vector<std::uint64_t> out;
  for (auto& e : events)
    out.push_back(e.seq());
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (auto s = from; s <= to; ++s)
    out.push_back(s);
  return out;
}

} // namespace

TEST_CASE("a live subscriber gets every event from registration on, in order", "[fanin]") {
  fixture f;
  topic_state t("t", 100);
  publish(t, 3);
  auto [sub, stream] = f.make_sub({"t"}, 64);
  t.add(sub, 0, std::nullopt);
  CHECK(stream->headers == 1); // sole topic: registered, headers out at once
  CHECK(t.subscriber_count() == 1);
  publish(t, 5);
  CHECK(seqs(read(stream, 100)) == range(4, 8));
  t.remove(sub->id());
  CHECK(t.subscriber_count() == 0);
  publish(t, 1);
  CHECK(read(stream, 100).empty());
}

TEST_CASE("replay larger than the buffer is paced, then joins live without gap or dup",
          "[fanin]") {
  fixture f;
  topic_state t("t", 1000);
  publish(t, 50);
  auto [sub, stream] = f.make_sub({"t"}, 8);
  t.add(sub, 0, std::uint64_t{10});
  // Only what fits: the topic waits for room instead of overflowing it.
  CHECK(stream->buffered.size() == 8);
  CHECK(stream->waiting_for_room());
  CHECK_FALSE(stream->finishing);

  std::vector<v1::Event> got;
  int rounds = 0;
  while (got.size() < 45 && rounds++ < 100) {
    auto batch = read(stream, 5);
    got.insert(got.end(), batch.begin(), batch.end());
    // The stream's room callback became a `writable` signal to the topic.
    bool signalled = !f.signals.got.empty() && f.signals.got.back().second == sub_signal::writable;
    f.signals.got.clear();
    if (signalled)
      t.writable(sub->id());
    if (rounds == 3)
      publish(t, 5); // new events while catching up: they queue behind the replay
  }
  auto rest = read(stream, 100);
  got.insert(got.end(), rest.begin(), rest.end());
  CHECK(seqs(got) == range(11, 55));
  CHECK_FALSE(stream->finishing);
  // Caught up: now live.
  publish(t, 2);
  CHECK(seqs(read(stream, 100)) == range(56, 57));
}

TEST_CASE("a live subscriber that overflows is cut off with the last seq it got", "[fanin]") {
  fixture f;
  topic_state a("a", 100);
  topic_state b("B", 100);
  publish(b, 7);
  auto [sub, stream] = f.make_sub({"a", "B"}, 4);
  a.add(sub, 0, std::nullopt);
  CHECK(stream->headers == 0); // topic B has not registered yet
  b.add(sub, 1, std::nullopt);
  CHECK(stream->headers == 1);
  // B registered last and starts itself; A is told to start.
  REQUIRE(f.signals.got.size() == 1);
  CHECK(f.signals.got[0] == std::make_pair(std::size_t{0}, sub_signal::start));
  a.start(sub->id());

  publish(b, 1);                   // B: seq 8
  publish(a, 2);                   // A: seqs 1, 2
  CHECK(stream->buffered.size() == 3);
  publish(a, 3);                   // the 4th fits, the 5th overflows
  CHECK(stream->finishing);
  CHECK(stream->status.code == rt::status_code::resource_exhausted);
  CHECK(stream->trailer("troupe-last-seq-a") == "3");
  CHECK(stream->trailer("troupe-last-seq-b") == "8");
  CHECK(a.subscriber_count() == 0); // dropped at once, without slowing the topic
  // The client still reads everything the trailers claim.
  CHECK(seqs(read(stream, 100)) == std::vector<std::uint64_t>{8, 1, 2, 3});
  // Other topics stop too, and forget it.
  publish(b, 1);
  CHECK(b.subscriber_count() == 0);
}

TEST_CASE("resuming below retention or beyond the last seq is OUT_OF_RANGE", "[fanin]") {
  fixture f;
  topic_state t("t", 10);
  publish(t, 25); // retains 16..25
  {
    auto [sub, stream] = f.make_sub({"t"}, 64);
    t.add(sub, 0, std::uint64_t{14});
    CHECK(stream->status.code == rt::status_code::out_of_range);
    CHECK(stream->status.message.find("oldest retained seq is 16") != std::string::npos);
    CHECK(stream->headers == 0);
    CHECK(t.subscriber_count() == 0);
  }
  {
    auto [sub, stream] = f.make_sub({"t"}, 64);
    t.add(sub, 0, std::uint64_t{26});
    CHECK(stream->status.code == rt::status_code::out_of_range);
  }
  {
    auto [sub, stream] = f.make_sub({"t"}, 64);
    t.add(sub, 0, std::uint64_t{15}); // exactly at the seam
    CHECK_FALSE(stream->finishing);
    CHECK(seqs(read(stream, 100)) == range(16, 25));
  }
}

TEST_CASE("a replay that falls out of retention is cut off", "[fanin]") {
  fixture f;
  topic_state t("t", 10);
  publish(t, 10);
  auto [sub, stream] = f.make_sub({"t"}, 2);
  t.add(sub, 0, std::uint64_t{0});
  CHECK(stream->buffered.size() == 2);
  publish(t, 20); // seqs 3..20 wanted next are overwritten meanwhile
  read(stream, 2);
  t.writable(sub->id());
  CHECK(stream->status.code == rt::status_code::resource_exhausted);
  CHECK(stream->trailer("troupe-last-seq-t") == "2");
  CHECK(t.subscriber_count() == 0);
}

TEST_CASE("drain delivers what the topic has, then ends streams UNAVAILABLE with where to resume",
          "[fanin]") {
  fixture f;
  topic_state t("t", 100);
  auto [live, live_stream] = f.make_sub({"t"}, 100);
  auto [slow, slow_stream] = f.make_sub({"t"}, 3);
  t.add(live, 0, std::nullopt);
  publish(t, 10);
  t.add(slow, 0, std::uint64_t{0}); // replaying, 3 at a time
  t.begin_drain();
  CHECK(live_stream->finishing);
  CHECK(live_stream->status.code == rt::status_code::unavailable);
  CHECK(live_stream->trailer("troupe-last-seq-t") == "10");
  CHECK(seqs(read(live_stream, 100)) == range(1, 10));
  // The replaying one ends only once it got everything.
  CHECK_FALSE(slow_stream->finishing);
  std::vector<v1::Event> got;
  for (int i = 0; i < 10 && !slow_stream->finishing; ++i) {
    auto batch = read(slow_stream, 3);
    got.insert(got.end(), batch.begin(), batch.end());
    t.writable(slow->id());
  }
  auto rest = read(slow_stream, 100);
  got.insert(got.end(), rest.begin(), rest.end());
  CHECK(slow_stream->status.code == rt::status_code::unavailable);
  CHECK(slow_stream->trailer("troupe-last-seq-t") == "10");
  CHECK(seqs(got) == range(1, 10));
  // Newcomers are turned away.
  auto [late, late_stream] = f.make_sub({"t"}, 10);
  t.add(late, 0, std::nullopt);
  CHECK(late_stream->status.code == rt::status_code::unavailable);
}
