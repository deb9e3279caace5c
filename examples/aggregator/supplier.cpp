// A supplier answers each ask after its latency, unless the asker gives up
// first: then its timer stops and no quote is made for nobody.
#include "supplier.hpp"

#include <caf/all.hpp>

#include "troupe/rt/select.hpp"
#include "troupe/rt/timers.hpp"

namespace aggregator {

namespace rt = troupe::rt;

namespace {

struct supplier_state {
  supplier_spec spec;
  std::shared_ptr<supplier_ledger> ledger;
};

using supplier_actor = caf::stateful_actor<supplier_state>*;

quote_reply answer(supplier_actor self, const std::string& item) {
  auto& st = self->state;
  auto it = st.spec.cents_by_item.find(item);
  if (it == st.spec.cents_by_item.end()) {
    ++st.ledger->refused;
    return {};
  }
  ++st.ledger->quoted;
  return {it->second};
}

caf::behavior supplier(supplier_actor self, supplier_spec spec,
                       std::shared_ptr<supplier_ledger> ledger) {
  self->state.spec = std::move(spec);
  self->state.ledger = std::move(ledger);
  return {
    [=](quote_ask& ask) {
      auto reply = self->make_response_promise();
      auto timer = std::make_shared<rt::timer_handle>();
      // The quote races the asker's cancellation (the aggregator's call
      // ending, or another supplier failing first). rt::race delivers
      // either outcome here, in this actor, where the timer may be stopped.
      rt::race<bool>(
        self, rt::deadline::never(), ask.token,
        [=](rt::cancel_token, rt::completer<bool> ready) {
          *timer = rt::after(self, self->state.spec.latency, [ready] { ready(true); });
        },
        [=, item = ask.item](rt::outcome<bool>&& o) mutable {
          if (o.has_value()) {
            reply.deliver(answer(self, item));
            return;
          }
          timer->cancel();
          ++self->state.ledger->abandoned;
        });
      return reply;
    },
  };
}

} // namespace

caf::actor spawn_supplier(caf::actor_system& system, supplier_spec spec,
                          std::shared_ptr<supplier_ledger> ledger) {
  return system.spawn(supplier, std::move(spec), std::move(ledger));
}

} // namespace aggregator
