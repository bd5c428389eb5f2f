#include "wiring/head_link.hpp"

#include <algorithm>
#include <set>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/gate.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "runtime/transport/auth.hpp"
#include "runtime/transport/run_secret.hpp"
#include "wiring/control_endpoint.hpp"

namespace tandem {

namespace {

// A live gate answers in milliseconds; these only bound a wedged head.
constexpr auto reply_deadline = std::chrono::seconds{10};

/// The gate at HEAD = host:port, reached through the control handshake
/// (wiring/control_endpoint.hpp), retrying until `timeout`.
caf::expected<caf::actor> connect_gate(caf::actor_system& sys, const std::string& head,
                                       const std::string& secret,
                                       std::chrono::milliseconds timeout) {
  auto addr = parse_host_port(head);
  if (!addr)
    return addr.error();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto h = connect_control(sys, addr->host, addr->port, secret, timeout);
    if (h)
      return *h;
    // A head that refuses our proof (another secret) will not change its mind.
    if (is(h.error(), errc::malformed_message))
      return h.error();
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(errc::timeout, "cannot reach head " + head + ": " + sys.render(h.error()));
    // The head may still be starting: retry a few times per second.
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
}

/// join_head, with each of the gate's replies bounded by `reply_bound`.
caf::expected<caf::actor> join_through_gate(caf::actor_system& sys, const std::string& head,
                                            const std::string& name, const std::string& secret,
                                            std::chrono::milliseconds connect_timeout,
                                            std::chrono::milliseconds reply_bound) {
  auto gate = connect_gate(sys, head, secret, connect_timeout);
  if (!gate)
    return gate.error();
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result = make_error(errc::timeout, "no answer from the gate");
  self->request(*gate, reply_bound, join_atom::value, name)
    .receive(
      [&](const std::string& nonce) {
        auto proof = join_proof(secret, nonce, name);
        if (!proof) {
          result = proof.error();
          return;
        }
        self->request(*gate, reply_bound, join_atom::value, name, nonce, *proof)
          .receive([&](const caf::actor& ctl) { result = ctl; },
                   [&](caf::error& err) { result = err; });
      },
      [&](caf::error& err) { result = err; });
  return result;
}

} // namespace

bool names_secret(const topology::Cluster& cluster) {
  auto& sec = cluster.security();
  return !sec.secret_file().empty() || !sec.secret_env().empty();
}

caf::expected<std::string> load_configured_secret(const topology::Cluster& cluster) {
  if (!names_secret(cluster))
    return std::string{};
  auto& sec = cluster.security();
  return transport::load_secret(sec.secret_file(), sec.secret_env());
}

caf::expected<std::string> load_run_secret(const topology::Cluster& cluster,
                                           const std::string& run_dir) {
  if (names_secret(cluster))
    return load_configured_secret(cluster);
  return transport::read_run_secret(run_dir);
}

caf::expected<std::string> ensure_run_secret(const topology::Cluster& cluster,
                                             const std::string& run_dir) {
  if (names_secret(cluster))
    return load_configured_secret(cluster);
  return transport::load_or_create_run_secret(run_dir);
}

caf::expected<caf::actor> join_head(caf::actor_system& sys, const std::string& head,
                                    const std::string& name, const std::string& secret,
                                    std::chrono::milliseconds connect_timeout) {
  return join_through_gate(sys, head, name, secret, connect_timeout, reply_deadline);
}

head_down classify_head_down(const caf::error& reason) {
  if (!reason || reason == caf::exit_reason::normal || reason == caf::exit_reason::user_shutdown)
    return head_down::finished;
  if (reason == caf::exit_reason::remote_link_unreachable)
    return head_down::unreachable;
  return head_down::failed;
}

caf::expected<caf::actor> rejoin_head(caf::actor_system& sys, const std::string& head,
                                      const std::string& name, const std::string& secret,
                                      std::chrono::steady_clock::time_point deadline,
                                      const std::function<bool()>& stop,
                                      const caf::node_id& not_on) {
  // Connection refused comes back at once; 2 s bounds a host that does not
  // answer, so that the deadline and stop() are looked at regularly.
  constexpr std::chrono::milliseconds connect_bound{2000};
  // A restarted head publishes its gate only once it is ready, and a live
  // gate answers in milliseconds: an attempt that met a gate in a bad moment
  // (a 10-minute chaos run once waited the full 10 s here) is retried after
  // 2 s instead.
  constexpr std::chrono::milliseconds reply_bound{2000};
  constexpr std::chrono::milliseconds pause{500};
  caf::error last = make_error(errc::timeout, "no attempt made");
  using std::chrono::milliseconds;
  while (!stop()) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline
                                                         - std::chrono::steady_clock::now());
    auto ctl = join_through_gate(sys, head, name, secret,
                                 std::clamp(left, milliseconds{100}, connect_bound),
                                 std::clamp(left, milliseconds{1000}, reply_bound));
    if (ctl && (not_on == caf::node_id{} || ctl->node() != not_on))
      return ctl;
    last = ctl ? make_error(errc::peer_down, "the head still serves the failed controller")
               : ctl.error();
    if (std::chrono::steady_clock::now() + pause > deadline)
      return make_error(errc::timeout, "last attempt: " + describe(last));
    std::this_thread::sleep_for(pause);
  }
  return make_error(errc::not_ready, "stopped while rejoining " + head);
}

} // namespace tandem
