#include "fanin/fanin_counts.hpp"

#include <algorithm>

namespace troupe::loadgen {

void producer_totals::merge(const producer_totals& o) {
  published += o.published;
  published_in_window += o.published_in_window;
  unsent += o.unsent;
  accepted += o.accepted;
  accepted_unknown += o.accepted_unknown;
  add_counts(status, o.status);
  start_lag.merge(o.start_lag);
}

void delivery_counts::merge(const delivery_counts& o) {
  delivered += o.delivered;
  in_window += o.in_window;
  gaps += o.gaps;
  dups += o.dups;
  missing += o.missing;
  order_errors += o.order_errors;
  foreign += o.foreign;
  latency.merge(o.latency);
  last_delivery = std::max(last_delivery, o.last_delivery);
}

void resubscribe_counts::merge(const resubscribe_counts& o) {
  add_counts(status, o.status);
  cutoffs += o.cutoffs;
  resubscribes += o.resubscribes;
  out_of_range += o.out_of_range;
  trailer_mismatches += o.trailer_mismatches;
}

} // namespace troupe::loadgen
