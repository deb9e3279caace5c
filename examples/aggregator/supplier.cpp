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

void answer(supplier_actor self, const std::string& item,
            const rt::task_promise<std::uint32_t>& promise) {
  auto& st = self->state;
  auto it = st.spec.cents_by_item.find(item);
  if (it == st.spec.cents_by_item.end()) {
    ++st.ledger->refused;
    auto why = st.spec.name + " does not carry " + item;
    promise.set_error({rt::task_errc::failed, why,
                       rt::call_status::of(rt::status_code::not_found, why)});
    return;
  }
  ++st.ledger->quoted;
  promise.set_value(it->second);
}

caf::behavior supplier(supplier_actor self, supplier_spec spec,
                       std::shared_ptr<supplier_ledger> ledger) {
  self->state.spec = std::move(spec);
  self->state.ledger = std::move(ledger);
  return {
    [=](quote_ask& ask) {
      auto timer = std::make_shared<rt::timer_handle>();
      // The quote races the asker's cancellation (the aggregator's call
      // ending, or another supplier failing first). rt::race delivers
      // either outcome here, in this actor, where the timer may be stopped.
      rt::race<bool>(
        self, rt::deadline::never(), ask.promise.token(),
        [=](rt::cancel_token, rt::completer<bool> ready) {
          *timer = rt::after(self, self->state.spec.latency, [ready] { ready(true); });
        },
        [=, item = ask.item, promise = ask.promise](rt::outcome<bool>&& o) {
          if (o.has_value()) {
            answer(self, item, promise);
            return;
          }
          timer->cancel();
          ++self->state.ledger->abandoned;
        });
    },
  };
}

} // namespace

caf::actor spawn_supplier(caf::actor_system& system, supplier_spec spec,
                          std::shared_ptr<supplier_ledger> ledger) {
  return system.spawn(supplier, std::move(spec), std::move(ledger));
}

} // namespace aggregator
