#include "actors/gate.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "runtime/transport/auth.hpp"

namespace tandem {

caf::expected<std::string> join_proof(const std::string& secret, const std::string& nonce,
                                      const std::string& name) {
  return transport::keyed_mac(secret, "tandem-join|" + nonce + "|" + name);
}

namespace {

std::string issue_challenge(gate_actor_t* self, const std::string& name) {
  auto& st = self->state;
  while (st.pending.size() >= st.settings.max_pending)
    st.pending.pop_front();
  auto nonce = transport::random_nonce();
  st.pending.push_back({nonce, name, self->clock().now() + st.settings.nonce_ttl});
  return nonce;
}

caf::result<caf::actor> refuse(gate_actor_t* self, const std::string& name, const char* why) {
  ++self->state.refused;
  std::cerr << "[gate] refused join of '" << name << "': " << why << "\n";
  return make_error(errc::peer_down, std::string("join refused: ") + why);
}

caf::result<caf::actor> verify(gate_actor_t* self, const std::string& name,
                               const std::string& nonce, const std::string& mac) {
  auto& st = self->state;
  auto now = self->clock().now();
  for (auto it = st.pending.begin(); it != st.pending.end(); ++it) {
    if (it->nonce != nonce || it->name != name)
      continue;
    bool fresh = it->expires >= now;
    st.pending.erase(it); // one attempt per challenge
    if (!fresh)
      return refuse(self, name, "challenge expired");
    auto expected = join_proof(st.settings.secret, nonce, name);
    if (!expected || !transport::macs_equal(*expected, mac))
      return refuse(self, name, "wrong proof (secret mismatch)");
    ++st.admitted;
    return st.settings.controller;
  }
  return refuse(self, name, "unknown challenge");
}

} // namespace

caf::behavior gate_actor(gate_actor_t* self, gate_settings settings) {
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
