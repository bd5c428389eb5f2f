#include "wiring/head_link.hpp"

#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/gate.hpp"
#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "runtime/transport/auth.hpp"

namespace tandem {

namespace {

// A live gate answers in milliseconds; these only bound a wedged head.
constexpr auto reply_deadline = std::chrono::seconds{10};

caf::expected<caf::actor> connect_gate(caf::actor_system& sys, const std::string& head,
                                       std::chrono::milliseconds timeout) {
  auto colon = head.rfind(':');
  if (colon == std::string::npos)
    return make_error(errc::invalid_argument, "head address must be HOST:PORT, got " + head);
  uint16_t port = 0;
  try {
    port = static_cast<uint16_t>(std::stoi(head.substr(colon + 1)));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "bad port in " + head);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto h = sys.middleman().remote_actor(head.substr(0, colon), port);
    if (h)
      return *h;
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(errc::timeout, "cannot reach head " + head + ": " + sys.render(h.error()));
    // The head may still be starting: retry a few times per second.
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
}

} // namespace

caf::expected<std::string> load_run_secret(const topology::Cluster& cluster) {
  auto& sec = cluster.security();
  if (sec.secret_file().empty() && sec.secret_env().empty())
    return std::string{};
  return transport::load_secret(sec.secret_file(), sec.secret_env());
}

caf::expected<caf::actor> join_head(caf::actor_system& sys, const std::string& head,
                                    const std::string& name, const std::string& secret,
                                    std::chrono::milliseconds connect_timeout) {
  auto gate = connect_gate(sys, head, connect_timeout);
  if (!gate)
    return gate.error();
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result = make_error(errc::timeout, "no answer from the gate");
  self->request(*gate, reply_deadline, join_atom::value, name)
    .receive(
      [&](const std::string& nonce) {
        auto proof = join_proof(secret, nonce, name);
        if (!proof) {
          result = proof.error();
          return;
        }
        self->request(*gate, reply_deadline, join_atom::value, name, nonce, *proof)
          .receive([&](const caf::actor& ctl) { result = ctl; },
                   [&](caf::error& err) { result = err; });
      },
      [&](caf::error& err) { result = err; });
  return result;
}

} // namespace tandem
