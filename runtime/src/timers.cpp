#include "troupe/rt/timers.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/message.hpp>
#include <caf/message_priority.hpp>

namespace troupe::rt {

namespace detail {

namespace {

// scheduled_actor keeps its response table protected and offers no way to
// withdraw an entry. Naming the member through a derived class is the one
// standard-conforming way to reach it; without it a cancelled timer's handler
// (and the actor's liveness) would linger until the original due time.
struct response_table_access : caf::scheduled_actor {
  static auto table() {
    return &response_table_access::multiplexed_responses_;
  }
};

constexpr int quitting_flags = caf::abstract_actor::is_shutting_down_flag
                               | caf::abstract_actor::is_terminated_flag
                               | caf::abstract_actor::is_cleaned_up_flag;

void on_timer(const std::shared_ptr<timer_state>& st) {
  st->armed = false;
  if (st->cancelled)
    return;
  st->finished = true;
  st->firing = true;
  st->fire();
  st->firing = false;
  st->release();
}

} // namespace

bool is_quitting(const caf::scheduled_actor* self) noexcept {
  return self->getf(quitting_flags);
}

caf::message_id add_hook(caf::scheduled_actor* self, caf::behavior bhvr) {
  auto rid = self->new_request_id(caf::message_priority::normal).response_id();
  self->add_multiplexed_response_handler(rid, std::move(bhvr));
  return rid;
}

void drop_hook(caf::scheduled_actor* self, caf::message_id rid) noexcept {
  (self->*response_table_access::table()).erase(rid);
}

void arm_timer(const std::shared_ptr<timer_state>& st) {
  auto* self = st->self;
  // The clock reports a due request as sec::request_timeout; that error is
  // the tick.
  st->rid = add_hook(self, caf::behavior{[st](caf::error&) { on_timer(st); }});
  st->armed = true;
  self->clock().set_request_timeout(st->due, self, st->rid);
}

} // namespace detail

void timer_handle::cancel() noexcept {
  auto& st = state_;
  if (!st || st->cancelled)
    return;
  st->cancelled = true;
  if (st->armed) {
    st->armed = false;
    st->self->clock().cancel_request_timeout(st->self, st->rid);
    detail::drop_hook(st->self, st->rid);
  }
  // Inside its own callback the function object is still executing; the
  // tick handler releases it once it returns.
  if (!st->firing)
    st->release();
}

bool timer_handle::active() const noexcept {
  return state_ && !state_->cancelled && !state_->finished && (state_->armed || state_->firing);
}

bool actor_callback::post() const {
  if (!owner_)
    return false;
  owner_->enqueue(nullptr, rid_, caf::make_message(wake_atom::value), nullptr);
  return true;
}

} // namespace troupe::rt
