// The slow end of the channel: it takes one item, spends `per_item` on it
// (a timer, so no thread sleeps and the actor stays responsive), then takes
// the next. Meanwhile the channel fills up, and that is what throttles the
// producer.

#include <caf/all.hpp>

#include "ingest.hpp"
#include "troupe/rt/inline_execution.hpp"
#include "troupe/rt/timers.hpp"

namespace {

using drain_atom = caf::atom_constant<caf::atom("drain")>;

struct consumer_state {
  ingest_call call;
  std::shared_ptr<ingest_pipe> pipe;
  std::chrono::milliseconds per_item{0};
  bool busy = false; // working on an item; its timer takes the next one
  std::uint64_t items = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t out_of_order = 0;
};

using consumer_actor = caf::stateful_actor<consumer_state>*;

void tally(consumer_state& st, const v1::Item& item) {
  if (item.seq() != st.last_seq + 1)
    ++st.out_of_order;
  st.last_seq = item.seq();
  ++st.items;
}

void answer(consumer_actor self) {
  auto& st = self->state;
  st.call->reply([&](v1::Summary& s) {
    s.set_items(st.items);
    s.set_last_seq(st.last_seq);
    s.set_out_of_order(st.out_of_order);
    s.set_times_full(st.pipe->times_full.load());
    s.set_capacity(st.pipe->items.capacity());
  });
  self->quit();
}

void take_next(consumer_actor self) {
  auto& st = self->state;
  while (!st.busy) {
    if (st.pipe->abandoned.load() || !st.call->open()) {
      self->quit(); // nobody waits for the rest
      return;
    }
    // Taking an item frees a slot: a producer waiting for room is called
    // back right here and its stream is read again.
    auto item = st.pipe->items.try_receive();
    if (!item) {
      if (st.pipe->items.closed_and_drained())
        answer(self);
      return; // the channel pokes us when it stops being empty
    }
    tally(st, *item);
    if (st.per_item.count() > 0) {
      st.busy = true;
      rt::after(self, st.per_item, [self] {
        self->state.busy = false;
        take_next(self);
      });
    }
  }
}

caf::behavior consumer(consumer_actor self, ingest_call call, std::shared_ptr<ingest_pipe> pipe,
                       std::chrono::milliseconds per_item) {
  self->state.call = std::move(call);
  self->state.pipe = std::move(pipe);
  self->state.per_item = per_item;
  return {
    [=](drain_atom) { take_next(self); },
  };
}

} // namespace

void spawn_consumer(caf::actor_system& system, ingest_call call, std::shared_ptr<ingest_pipe> pipe,
                    std::chrono::milliseconds per_item) {
  auto actor = system.spawn(consumer, std::move(call), pipe, per_item);
  // Poked only when the channel goes from empty to non-empty (and on
  // close): one message per burst, not per item. The producer's gRPC thread
  // runs the consumer right away when it is idle, instead of waking a CAF
  // worker for it.
  pipe->items.set_consumer_wakeup(
    [actor] { rt::send_inline(actor, caf::make_message(drain_atom::value)); });
}
