#include "actors/gate.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "runtime/transport/auth.hpp"

namespace tandem {

namespace {

std::string issue_challenge(gate_actor_t* self, const std::string& name) {
  auto nonce = transport::random_nonce();
  self->state.ledger.issue(name, nonce, self->clock().now());
  return nonce;
}

caf::result<caf::actor> verify(gate_actor_t* self, const std::string& name,
                               const std::string& nonce, const std::string& mac) {
  auto& st = self->state;
  auto verdict = st.ledger.verify(name, nonce, mac, self->clock().now());
  if (verdict == join_ledger::verdict::admitted) {
    ++st.admitted;
    return st.settings.controller;
  }
  ++st.refused;
  std::cerr << "[gate] refused join of '" << name << "': " << to_string(verdict) << "\n";
  return make_error(errc::peer_down, std::string("join refused: ") + to_string(verdict));
}

} // namespace

caf::behavior gate_actor(gate_actor_t* self, gate_settings settings) {
  self->state.ledger = join_ledger{settings.secret, settings.max_pending, settings.nonce_ttl};
  self->state.settings = std::move(settings);
  self->set_default_handler([=](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
    ++self->state.refused;
    std::cerr << "[gate] dropped an unexpected message: " << caf::to_string(x.content()) << "\n";
    return make_error(errc::malformed_message, "the gate only accepts join requests");
  });
  return {
    [=](join_atom, const std::string& name) { return issue_challenge(self, name); },
    [=](join_atom, const std::string& name, const std::string& nonce, const std::string& mac) {
      return verify(self, name, nonce, mac);
    },
    [=](status_atom) {
      return caf::make_message(static_cast<int64_t>(self->state.admitted),
                               static_cast<int64_t>(self->state.refused));
    },
  };
}

} // namespace tandem
