#include "actors/rollout_intake.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"

namespace tandem {

namespace {

void receive_once(intake_actor_t* self) {
  auto& st = self->state;
  auto got = st.receiver->recv_rollouts(transport::clock::now() + st.poll);
  if (got) {
    generate_result r;
    r.groups = std::move(*got);
    st.forwarded_groups += r.groups.size();
    self->send(st.controller, rollouts_atom::value, std::move(r));
  } else if (!is(got.error(), errc::timeout)) {
    std::cerr << "[rollout_intake] " << describe(got.error()) << "\n";
  }
  self->send(self, tick_atom::value);
}

} // namespace

caf::behavior rollout_intake_actor(intake_actor_t* self,
                                   std::shared_ptr<transport::rollout_receiver> receiver,
                                   caf::actor controller) {
  self->state.receiver = std::move(receiver);
  self->state.controller = std::move(controller);
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) { receive_once(self); },
    [=](status_atom) {
      auto s = self->state.receiver->stats();
      return caf::make_message(static_cast<int64_t>(s.frames), static_cast<int64_t>(s.malformed),
                               static_cast<int64_t>(self->state.forwarded_groups));
    },
  };
}

} // namespace tandem
