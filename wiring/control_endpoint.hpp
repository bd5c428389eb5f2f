// control_endpoint.hpp: the head's control port and how peers reach it, with
// the run's secret checked before CAF sees a byte (docs/control-auth.md).
//
// Head: serve_control() binds a transport::control_listener; each connection
// that passes the control handshake goes to a transport::basp_relay, and
// the relay's end of a socketpair to CAF's BASP broker as a server-side
// connection with the gate published on it (what BASP does for a
// connection its own doorman accepted). No CAF doorman listens anywhere.
// Peers (workers, `tandem status/scale`): connect_control() dials, passes
// the handshake, then hands the socket to the BASP broker as a client
// connection and returns the actor the head published there (the gate).
//
// Thread safety: connect_control blocks its caller (every step bounded);
// a control_endpoint is owned by one thread, its listener runs its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "runtime/transport/basp_relay.hpp"
#include "runtime/transport/control_listener.hpp"

namespace tandem {

/// The head's control port: the listener (handshakes) and the relay (every
/// authenticated connection, its BASP headers' sizes checked). States:
/// serving (after serve_control) -> relaying only (stop_listening: no new
/// connection reaches the actor system, which may then go) -> closed
/// (destructor: stops the listener if still running, then the relay, which
/// first passes on what CAF wrote last, for at most 2 s).
class control_endpoint {
public:
  control_endpoint(std::unique_ptr<transport::basp_relay> r,
                   std::unique_ptr<transport::control_listener> l)
    : relay_(std::move(r)), listener_(std::move(l)), port_(listener_->port()) {
  }
  uint16_t port() const { return port_; }
  /// Stops accepting; call before the actor system the endpoint serves goes.
  void stop_listening() {
    if (listener_)
      stats_ = listener_->stats();
    listener_.reset();
  }
  transport::control_listener_stats stats() const {
    return listener_ ? listener_->stats() : stats_;
  }
  transport::basp_relay_stats relay_stats() const { return relay_->stats(); }

private:
  std::unique_ptr<transport::basp_relay> relay_;         // destroyed last
  std::unique_ptr<transport::control_listener> listener_; // hands on to relay_
  uint16_t port_;
  transport::control_listener_stats stats_; // the final figures once stopped
};

/// Serves `gate` on settings.bind_host:settings.port to peers that prove
/// settings.secret, through a relay that caps announced BASP payloads at
/// relay.max_payload. `log` gets one line per refused peer (the listener's
/// thread; keep it cheap). `sys` and `gate` must outlive the endpoint.
caf::expected<std::unique_ptr<control_endpoint>>
serve_control(caf::actor_system& sys, const caf::actor& gate,
              transport::control_listener_settings settings,
              transport::control_listener::log_fn log,
              transport::basp_relay_settings relay = {});

/// Dials HOST:PORT, proves `secret`, and returns the actor published there,
/// all within `bound`. Errors: those of transport::dial_control; errc::timeout
/// when BASP's handshake does not finish in time; errc::peer_down when
/// nothing is published there.
caf::expected<caf::actor> connect_control(caf::actor_system& sys, const std::string& host,
                                          uint16_t port, const std::string& secret,
                                          std::chrono::milliseconds bound);

} // namespace tandem
