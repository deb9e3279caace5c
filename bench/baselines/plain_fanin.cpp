// Baseline: troupe.fanin.v1.FanIn as an engineer would write it without
// actors, on gRPC's synchronous API (one thread per call, as the sync server
// hands them out). All topics live under one mutex with two condition
// variables:
//   - Publish handlers append into the topic's bounded deque and wait on
//     `space` while it is full, which stops them reading their stream, so
//     HTTP/2 flow control throttles the producer;
//   - Subscribe handlers wait on `data`, copy what is new under the lock and
//     write it outside it. An event leaves the deque once every subscriber
//     of its topic has taken it, so the slowest subscriber paces the topic:
//     nobody is cut off and nothing is lost.
// Writes of one batch carry gRPC's buffer hint (all but the last), the same
// coalescing troupe's streams use, so the comparison is about the merge and
// not about flushing each message on its own; --no-buffer-hint turns it off.
//
// Same contract as troupe where it is cheap: seq 1, 2, ... per topic in
// acceptance order, headers sent once the subscription is registered,
// start_after replays what is still in the deque (OUT_OF_RANGE otherwise),
// topic and payload validation, troupe-last-seq-<topic> trailers, and
// HTTP/2 BDP probing off as in troupe (server.http2_bdp_probe): with it on,
// gRPC grows the receive window of every throttled producer stream to
// megabytes and a flood of producers fills memory with data no handler has
// read (--bdp-probe 1 restores gRPC's default to see it).
// No retention beyond the deque, no subscriber cut-off.
//
//   plain_fanin --listen 127.0.0.1:50064 --queue 1024 --max-payload-bytes 65536

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "baseline_store.hpp"
#include "troupe/fanin/v1/fanin.grpc.pb.h"

namespace v1 = troupe::fanin::v1;

namespace {

// How often a waiting handler looks whether its client went away: the sync
// API has no cancel callback for a thread parked on a condition variable.
constexpr auto cancel_poll = std::chrono::milliseconds(50);
// Events a subscriber copies per lock hold, so the lock is not held for long.
constexpr std::size_t write_batch = 256;

struct cursor {
  std::uint64_t taken = 0; // last seq this subscriber copied out
};

struct topic {
  std::string name;
  std::deque<v1::Event> events; // seq last_seq - size + 1 .. last_seq
  std::uint64_t last_seq = 0;
  std::vector<cursor*> cursors;

  std::uint64_t first_seq() const { return last_seq - events.size() + 1; }

  // Drops what every subscriber has taken; true if room was made.
  bool trim() {
    auto low = last_seq;
    for (auto* c : cursors)
      low = std::min(low, c->taken);
    bool made_room = false;
    while (!events.empty() && events.front().seq() <= low) {
      events.pop_front();
      made_room = true;
    }
    return made_room;
  }
};

bool valid_topic(const std::string& t) {
  if (t.empty() || t.size() > 128)
    return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
           || c == '_' || c == '-';
  });
}

std::string last_seq_key(const std::string& topic) {
  std::string key = "troupe-last-seq-";
  for (char c : topic)
    key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return key;
}

std::int64_t unix_nanos_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

class fanin_service final : public v1::FanIn::Service {
public:
  fanin_service(std::size_t queue, std::size_t max_payload, bool buffer_hint)
    : queue_(queue), max_payload_(max_payload), buffer_hint_(buffer_hint) {}

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    data_.notify_all();
    space_.notify_all();
  }

  grpc::Status Publish(grpc::ServerContext* ctx, grpc::ServerReader<v1::PublishRequest>* reader,
                       v1::PublishResponse* resp) override {
    v1::PublishRequest req;
    std::uint64_t accepted = 0;
    topic* cached = nullptr;
    grpc::Status status = grpc::Status::OK;
    while (reader->Read(&req)) {
      if (!valid_topic(req.topic())) {
        status = {grpc::StatusCode::INVALID_ARGUMENT, "topic: must match [A-Za-z0-9._-]{1,128}"};
        break;
      }
      if (req.payload().size() > max_payload_) {
        status = {grpc::StatusCode::INVALID_ARGUMENT,
                  "payload: is " + std::to_string(req.payload().size()) + " bytes, at most "
                    + std::to_string(max_payload_) + " allowed"};
        break;
      }
      {
        std::unique_lock<std::mutex> lk(mtx_);
        if (cached == nullptr || cached->name != req.topic())
          cached = &find_or_create(req.topic());
        auto& t = *cached;
        while (t.events.size() >= queue_ && !stopping_ && !ctx->IsCancelled())
          space_.wait_for(lk, cancel_poll);
        if (stopping_) {
          status = {grpc::StatusCode::UNAVAILABLE, "server is shutting down"};
          break;
        }
        if (ctx->IsCancelled())
          return {grpc::StatusCode::CANCELLED, "cancelled"};
        ++t.last_seq;
        // Nobody to deliver to: the seq is taken, nothing needs keeping.
        if (!t.cursors.empty()) {
          auto& e = t.events.emplace_back();
          e.set_topic(t.name);
          e.set_seq(t.last_seq);
          e.set_payload(std::move(*req.mutable_payload()));
          e.set_producer(std::move(*req.mutable_producer()));
          e.set_publish_unix_nanos(unix_nanos_now());
        }
        ++accepted;
      }
      data_.notify_all();
    }
    ctx->AddTrailingMetadata("troupe-accepted", std::to_string(accepted));
    resp->set_accepted(accepted);
    return status;
  }

  grpc::Status Subscribe(grpc::ServerContext* ctx, const v1::SubscribeRequest* req,
                         grpc::ServerWriter<v1::Event>* writer) override {
    if (req->topics_size() == 0)
      return {grpc::StatusCode::INVALID_ARGUMENT, "topics: at least one topic is required"};
    std::vector<std::string> names;
    for (int i = 0; i < req->topics_size(); ++i) {
      const auto& t = req->topics(i);
      if (!valid_topic(t))
        return {grpc::StatusCode::INVALID_ARGUMENT,
                "topics[" + std::to_string(i) + "]: must match [A-Za-z0-9._-]{1,128}"};
      if (std::find(names.begin(), names.end(), t) == names.end())
        names.push_back(t);
    }
    for (const auto& [t, _] : req->start_after())
      if (std::find(names.begin(), names.end(), t) == names.end())
        return {grpc::StatusCode::INVALID_ARGUMENT,
                "start_after: names topic '" + t + "' not in topics"};

    std::vector<topic*> topics;
    std::vector<cursor> cursors(names.size());
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (std::size_t i = 0; i < names.size(); ++i) {
        auto& t = find_or_create(names[i]);
        cursors[i].taken = t.last_seq;
        auto it = req->start_after().find(names[i]);
        if (it != req->start_after().end()) {
          if (it->second > t.last_seq || it->second + 1 < t.first_seq())
            return {grpc::StatusCode::OUT_OF_RANGE,
                    "start_after[" + names[i] + "]: " + std::to_string(it->second)
                      + " is not in the retained range " + std::to_string(t.first_seq() - 1)
                      + ".." + std::to_string(t.last_seq)};
          cursors[i].taken = it->second;
        }
        topics.push_back(&t);
      }
      for (std::size_t i = 0; i < topics.size(); ++i)
        topics[i]->cursors.push_back(&cursors[i]);
    }
    // Registered: from here on every accepted event reaches this call.
    writer->SendInitialMetadata();

    std::vector<v1::Event> batch;
    batch.reserve(write_batch);
    bool client_gone = false;
    while (!client_gone) {
      batch.clear();
      bool room = false;
      {
        std::unique_lock<std::mutex> lk(mtx_);
        auto pending = [&] {
          for (std::size_t i = 0; i < topics.size(); ++i)
            if (cursors[i].taken < topics[i]->last_seq)
              return true;
          return false;
        };
        while (!pending() && !stopping_ && !ctx->IsCancelled())
          data_.wait_for(lk, cancel_poll);
        if (ctx->IsCancelled())
          break;
        if (!pending() && stopping_)
          break;
        for (std::size_t i = 0; i < topics.size() && batch.size() < write_batch; ++i) {
          auto& t = *topics[i];
          while (cursors[i].taken < t.last_seq && batch.size() < write_batch) {
            batch.push_back(t.events[cursors[i].taken + 1 - t.first_seq()]);
            ++cursors[i].taken;
          }
          room = t.trim() || room;
        }
      }
      if (room)
        space_.notify_all();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        grpc::WriteOptions opts;
        if (buffer_hint_ && i + 1 < batch.size())
          opts.set_buffer_hint();
        if (!writer->Write(batch[i], opts)) {
          client_gone = true;
          break;
        }
      }
    }

    {
      std::lock_guard<std::mutex> guard{mtx_};
      bool room = false;
      for (std::size_t i = 0; i < topics.size(); ++i) {
        auto& cs = topics[i]->cursors;
        cs.erase(std::find(cs.begin(), cs.end(), &cursors[i]));
        room = topics[i]->trim() || room;
        ctx->AddTrailingMetadata(last_seq_key(names[i]), std::to_string(cursors[i].taken));
      }
      if (room)
        space_.notify_all();
    }
    return grpc::Status::OK;
  }

  grpc::Status ListTopics(grpc::ServerContext*, const v1::ListTopicsRequest*,
                          v1::ListTopicsResponse* resp) override {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& [name, t] : topics_) {
      auto* info = resp->add_topics();
      info->set_name(name);
      info->set_last_seq(t.last_seq);
      info->set_subscribers(static_cast<std::uint32_t>(t.cursors.size()));
    }
    return grpc::Status::OK;
  }

private:
  // Under mtx_. Map nodes never move, so handlers keep plain pointers.
  topic& find_or_create(const std::string& name) {
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      it = topics_.emplace(name, topic{}).first;
      it->second.name = name;
    }
    return it->second;
  }

  const std::size_t queue_;
  const std::size_t max_payload_;
  const bool buffer_hint_;
  std::mutex mtx_;
  std::condition_variable data_;  // a topic got an event, or stopping
  std::condition_variable space_; // a topic's deque got room, or stopping
  std::map<std::string, topic> topics_;
  bool stopping_ = false;
};

bool has_switch(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == name)
      return true;
  return false;
}

} // namespace

int main(int argc, char** argv) {
  baseline::block_stop_signals();
  baseline::skip_abseil_deadlock_detection();

  auto listen = baseline::flag(argc, argv, "listen", "127.0.0.1:50064");
  auto queue = std::stoul(baseline::flag(argc, argv, "queue", "1024"));
  auto max_payload = std::stoul(baseline::flag(argc, argv, "max-payload-bytes", "65536"));
  if (queue == 0) {
    std::fprintf(stderr, "plain_fanin: --queue must be at least 1\n");
    return 2;
  }
  fanin_service service(queue, max_payload, !has_switch(argc, argv, "--no-buffer-hint"));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE,
                             std::stoi(baseline::flag(argc, argv, "bdp-probe", "0")));
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "plain_fanin: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::fprintf(stderr, "plain_fanin listening on 127.0.0.1:%d, topic queue %lu\n", port, queue);
  baseline::wait_for_stop_signal();
  service.stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
