// An aggregator calling several actors: a Quote asks every supplier at
// once, one spawned task per supplier, and joins the tasks in its own context.
#include <caf/all.hpp>

#include "aggregator/v1/aggregator.grpc.pb.h"
#include "supplier.hpp"
#include "troupe/rt/config.hpp"
#include "troupe/rt/host.hpp"
#include "troupe/rt/task.hpp"

namespace rt = troupe::rt;
namespace v1 = aggregator::v1;
using aggregator::quote_ask;
using aggregator::quote_reply;
using quote_call = rt::unary<v1::QuoteRequest, v1::QuoteReply>;
using suppliers_call = rt::unary<v1::SuppliersRequest, v1::SuppliersReply>;

struct supplier {
  std::string name;
  caf::actor actor;
  std::shared_ptr<aggregator::supplier_ledger> ledger;
};

// Latencies differ so that answers arrive out of the suppliers' order.
std::vector<aggregator::supplier_spec> catalogue(std::chrono::milliseconds unit) {
  return {
    {"acme", {{"widget", 1200}, {"gadget", 4500}, {"gizmo", 800}}, unit},
    {"globex", {{"widget", 1150}, {"gadget", 4700}, {"gizmo", 950}}, 3 * unit},
    {"initech", {{"widget", 1300}, {"gizmo", 700}}, 2 * unit},
  };
}

// One sub-request: a task, an actor of its own, that asks one supplier and
// completes its promise with the answer. It ends with `call`: when the client
// goes away the task is cancelled, and through its token the supplier's work.
rt::task<std::uint32_t> ask(caf::actor_system& system, const supplier& s, std::string item,
                            rt::cancel_token call) {
  return rt::spawn_task<std::uint32_t>(
    system,
    [s, item](caf::event_based_actor* self, rt::task_promise<std::uint32_t> promise) {
      self->request(s.actor, caf::infinite, quote_ask{item, promise.token()})
        .then(
          [=](const quote_reply& r) {
            if (r.cents) {
              promise.set_value(*r.cents);
              return;
            }
            auto why = s.name + " does not carry " + item;
            promise.set_error({rt::task_errc::failed, why,
                               rt::call_status::of(rt::status_code::not_found, why)});
          },
          [=](caf::error& err) {
            promise.set_error(rt::task_errc::internal, self->system().render(err));
          });
    },
    std::move(call));
}

caf::behavior aggregator_actor(caf::event_based_actor* self, std::vector<supplier> suppliers) {
  return {
    [=](quote_call& call) {
      std::vector<rt::task<std::uint32_t>> quotes;
      for (const auto& s : suppliers)
        quotes.push_back(ask(self->system(), s, call->request().item(), call->token()));
      rt::try_join(
        self, std::move(quotes),
        [=](std::vector<std::uint32_t> cents) {
          call->reply([&](v1::QuoteReply& reply) {
            for (std::size_t i = 0; i < cents.size(); ++i) {
              auto* price = reply.add_prices();
              price->set_supplier(suppliers[i].name);
              price->set_cents(cents[i]);
            }
          });
        },
        // try_join has already cancelled the quotes still running. A
        // cancellation came from the call ending: failing it is a no-op.
        [=](const rt::task_error& err) { call->fail(rt::status_of(err)); });
    },
  };
}

std::optional<rt::call_status> check(const v1::QuoteRequest& r) {
  if (r.item().empty())
    return rt::call_status::invalid_argument("item", "must not be empty");
  return std::nullopt;
}

class aggregator_service final : public rt::service {
public:
  std::string name() const override { return "aggregator"; }

  void declare_config(rt::config_schema& schema) const override {
    schema.add_uint("aggregator.latency_ms", 100, 0, 60'000,
                    "a supplier's quote takes 1, 2 or 3 times this long");
  }

  void start(rt::service_context& ctx) override {
    auto unit = std::chrono::milliseconds(ctx.cfg().get_uint("aggregator.latency_ms"));
    for (auto& spec : catalogue(unit)) {
      auto ledger = std::make_shared<aggregator::supplier_ledger>();
      auto name = spec.name;
      auto actor = aggregator::spawn_supplier(ctx.system(), std::move(spec), ledger);
      suppliers_.push_back({std::move(name), std::move(actor), std::move(ledger)});
    }
    aggregator_ = ctx.system().spawn(aggregator_actor, suppliers_);

    auto api = ctx.serve<v1::Aggregator>();
    api.unary<v1::QuoteRequest, v1::QuoteReply>("Quote").validate(check).to(aggregator_);
    api.unary<v1::SuppliersRequest, v1::SuppliersReply>("Suppliers")
      .handle([this](suppliers_call call) {
        call->reply([&](v1::SuppliersReply& reply) {
          for (const auto& s : suppliers_) {
            auto* stats = reply.add_suppliers();
            stats->set_name(s.name);
            stats->set_quoted(s.ledger->quoted);
            stats->set_refused(s.ledger->refused);
            stats->set_abandoned(s.ledger->abandoned);
          }
        });
      });
  }

  void stop() override {
    caf::anon_send_exit(aggregator_, caf::exit_reason::user_shutdown);
    for (auto& s : suppliers_)
      caf::anon_send_exit(s.actor, caf::exit_reason::user_shutdown);
  }

private:
  std::vector<supplier> suppliers_;
  caf::actor aggregator_;
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<aggregator_service>());
  return rt::serve(argc, argv, std::move(services));
}
