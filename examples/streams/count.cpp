// Count: an actor per stream pushes numbers until the stream's buffer is
// full, then waits for when_writable to call it back. A client that reads
// slowly only slows the count down: the server never holds more numbers
// than the stream's buffer (.stream_buffer in streams.cpp) ahead of it.

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <utility>

#include "streams.hpp"

namespace {

using writable_atom = caf::atom_constant<caf::atom("writable")>;
using clock_type = std::chrono::steady_clock;

struct counter_state {
  count_call call;
  std::uint64_t next = 1;
  // The longest the client's reading held the count back: sent as a
  // trailer, so a client sees the pacing at work.
  clock_type::duration longest_wait{0};
  clock_type::time_point full_since;
};

using counter_actor = caf::stateful_actor<counter_state>*;

void count_on(counter_actor self) {
  auto& st = self->state;
  if (st.full_since != clock_type::time_point{})
    st.longest_wait =
      std::max(st.longest_wait, clock_type::now() - std::exchange(st.full_since, {}));
  v1::Number number;
  for (; st.next <= st.call->request().n(); ++st.next) {
    number.set_value(static_cast<std::int64_t>(st.next));
    switch (st.call->push(number)) {
      case rt::push_result::accepted:
        continue;
      case rt::push_result::full:
        st.full_since = clock_type::now();
        // Called on a gRPC thread: back into the actor as a message.
        st.call->when_writable(
          [me = caf::actor_cast<caf::actor>(self)] { caf::anon_send(me, writable_atom::value); });
        return;
      case rt::push_result::ended: // the client went away, or shutdown
        self->quit();
        return;
    }
  }
  auto done = rt::call_status::success();
  auto longest = std::chrono::duration_cast<std::chrono::milliseconds>(st.longest_wait);
  done.trailers.emplace_back("streams-longest-wait-ms", std::to_string(longest.count()));
  st.call->finish(std::move(done)); // after every number accepted so far is written
  self->quit();
}

caf::behavior counter(counter_actor self, count_call call) {
  self->state.call = std::move(call);
  count_on(self);
  return {
    [=](writable_atom) { count_on(self); },
  };
}

} // namespace

void count(caf::actor_system& system, count_call call) {
  system.spawn(counter, std::move(call));
}
