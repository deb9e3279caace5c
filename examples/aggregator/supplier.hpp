#pragma once

// A supplier: an actor of its own with its own price table, whose quotes
// take a while, as a remote supplier's would.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "troupe/rt/cancellation.hpp"

namespace aggregator {

struct supplier_spec {
  std::string name;
  std::map<std::string, std::uint32_t> cents_by_item;
  std::chrono::milliseconds latency{0};
};

/// Written by the supplier, read by the Suppliers method on gRPC threads:
/// how a test sees whether cancellation reached the supplier.
struct supplier_ledger {
  std::atomic<std::uint64_t> quoted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> abandoned{0};
};

/// A request for one price, answered with a quote_reply. `token` is the
/// asker's: once it is cancelled nobody wants the answer, and the supplier
/// stops working on it (and answers nothing).
struct quote_ask {
  std::string item;
  troupe::rt::cancel_token token;
};

/// The price, or none when the supplier does not carry the item.
struct quote_reply {
  std::optional<std::uint32_t> cents;
};

caf::actor spawn_supplier(caf::actor_system& system, supplier_spec spec,
                          std::shared_ptr<supplier_ledger> ledger);

} // namespace aggregator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(aggregator::quote_ask)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(aggregator::quote_reply)
