#include "fanin/subscriber_thread.hpp"

#include <chrono>

#include "grpc_client.hpp"
#include "process.hpp"

namespace troupe::loadgen {

void subscriber_thread::run() {
  tighten_timer_slack();
  for (auto& s : subs_)
    s->start(&cq_);
  auto live = subs_.size();
  bool resumed = false;
  while (live > 0) {
    if (!resumed && gate_.is_open()) {
      resumed = true;
      for (auto& s : subs_)
        s->resume();
    }
    void* tag = nullptr;
    bool ok = false;
    // Nothing wakes the queue when the gate opens: look often until then.
    auto wait = resumed ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2);
    auto r = cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + wait);
    if (r == grpc::CompletionQueue::SHUTDOWN)
      break;
    if (r != grpc::CompletionQueue::GOT_EVENT)
      continue;
    auto* t = static_cast<subscriber_tag*>(tag);
    if (t->owner->on_event(ok, t->alarm))
      --live;
  }
  shut_down_and_drain(cq_);
}

} // namespace troupe::loadgen
