#include "wiring/control_endpoint.hpp"

#include <set>

#include <netinet/in.h>
#include <sys/socket.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/basp_broker.hpp>

#include "runtime/error.hpp"

namespace tandem {

namespace {

caf::actor basp_broker_of(caf::actor_system& sys) {
  return sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

} // namespace

caf::expected<std::unique_ptr<control_endpoint>>
serve_control(caf::actor_system& sys, const caf::actor& gate,
              transport::control_listener_settings settings,
              transport::control_listener::log_fn log, transport::basp_relay_settings relay) {
  auto basp = basp_broker_of(sys);
  auto whom = caf::actor_cast<caf::strong_actor_ptr>(gate);
  auto r = transport::basp_relay::start(relay, log);
  if (!r)
    return r.error();
  auto* rp = r->get();
  auto on_accept = [&sys, basp, whom, rp, log](int fd, const std::string& peer) {
    // BASP files the published gate under the connection's local port (the
    // control port), as for a connection its own doorman accepted.
    auto port = transport::socket_local_port(fd);
    auto local = rp->add(fd, peer);
    if (!local) {
      if (log)
        log("control port: " + describe(local.error()));
      return;
    }
    auto scribe = sys.middleman().backend().new_scribe(*local);
    caf::anon_send(basp, caf::publish_atom::value, std::move(scribe), port, whom,
                   std::set<std::string>{});
  };
  auto listener = transport::control_listener::start(std::move(settings), on_accept, log);
  if (!listener)
    return listener.error();
  return std::make_unique<control_endpoint>(std::move(*r), std::move(*listener));
}

caf::expected<caf::actor> connect_control(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, const std::string& secret,
                                          std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  auto fd = transport::dial_control(host, port, secret, bound);
  if (!fd)
    return fd.error();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - std::chrono::steady_clock::now());
  left = std::max(left, std::chrono::milliseconds{1});
  auto scribe = sys.middleman().backend().new_scribe(*fd);
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> out = make_error(errc::timeout, "no answer within the deadline");
  auto where = host + ":" + std::to_string(port);
  self->request(basp_broker_of(sys), left, caf::connect_atom::value, std::move(scribe), port)
    .receive(
      [&](const caf::node_id& nid, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
        if (nid == sys.node())
          out = make_error(errc::peer_down, where + " is this process");
        else if (!ptr)
          out = make_error(errc::peer_down, "no actor published at " + where);
        else if (!ifs.empty())
          out = make_error(errc::malformed_message, "a typed actor is published at " + where);
        else
          out = caf::actor_cast<caf::actor>(std::move(ptr));
      },
      [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace tandem
