// control_listener.hpp: the head's control port. It accepts TCP connections
// and runs the control handshake (control_handshake.hpp) on each; only a
// connection that proved the run's secret is handed on (to CAF's BASP,
// wiring/control_endpoint.hpp). Before that no byte of the peer goes anywhere
// but a fixed 72-byte frame buffer (docs/control-auth.md).
//
// Also dial_control(): the connecting side (workers, `tandem status/scale`).
//
// Bounds: at most `max_pending` handshakes at once (more connections are
// closed at accept: the port stays usable for the next honest peer once the
// flood's handshakes time out); each handshake must finish within
// `handshake_deadline` of its accept, or its connection is closed.
//
// States: running (after start: one thread polls the listening socket, the
// pending handshakes and a stop eventfd) -> stopped (destructor: signals the
// eventfd, joins the thread, closes every socket it still owns).
// Thread safety: stats() and port() from any thread; the callbacks run on the
// listener's thread and must not block (they hand the socket on).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <caf/expected.hpp>

namespace tandem::transport {

struct control_listener_settings {
  std::string bind_host = "127.0.0.1"; // "" or "0.0.0.0": every interface
  uint16_t port = 0;                    // 0: the kernel picks one
  std::string secret;                   // the run's secret (every run has one)
  // An honest peer needs two round trips; 5 s covers slow networks and
  // bounds how long a silent peer holds one of the pending slots.
  std::chrono::milliseconds handshake_deadline{5000};
  // A handful of peers join at once (workers of a restarted head); 64
  // slots of ~200 bytes each bound what a connection flood costs.
  size_t max_pending = 64;
};

struct control_listener_stats {
  uint64_t authenticated = 0; // handed on
  uint64_t refused = 0;       // wrong secret, garbage, closed early
  uint64_t timed_out = 0;     // no complete handshake within the deadline
  uint64_t turned_away = 0;   // closed at accept: max_pending handshakes ran
};

class control_listener {
public:
  /// Receives an authenticated, non-blocking socket (and the peer's
  /// address, for logs) and owns it from then on.
  using accept_fn = std::function<void(int fd, const std::string& peer)>;
  /// One line about a refused or timed-out peer (address and why): the
  /// first 10, then every 1000th.
  using log_fn = std::function<void(const std::string& line)>;

  /// Binds and listens (SO_REUSEADDR: a restarted head takes its port back),
  /// then starts the thread. errc::io_failure names host, port and errno.
  static caf::expected<std::unique_ptr<control_listener>>
  start(control_listener_settings settings, accept_fn on_accept, log_fn log);

  ~control_listener();
  control_listener(const control_listener&) = delete;
  control_listener& operator=(const control_listener&) = delete;

  /// The bound port (the kernel's choice when settings.port was 0).
  uint16_t port() const { return port_; }

  control_listener_stats stats() const;

private:
  struct impl;
  control_listener() = default;
  void run();
  int poll_timeout_ms() const;
  void service_pending();
  void accept_new();

  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<uint64_t> authenticated_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> turned_away_{0};
};

/// The local port a bound or connected socket has (IPv4 or IPv6); 0 if unknown.
uint16_t socket_local_port(int fd);

/// Connects to HOST:PORT and runs the client side of the handshake, all
/// within `timeout`. Returns the authenticated socket (non-blocking; the
/// caller owns it). errc::timeout when the deadline passes, errc::peer_down
/// when nothing listens, errc::malformed_message naming the handshake's
/// failure (a head with another secret, or no tandem head at all).
caf::expected<int> dial_control(const std::string& host, uint16_t port,
                                const std::string& secret, std::chrono::milliseconds timeout);

} // namespace tandem::transport
