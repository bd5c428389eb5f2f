#include "runtime/transport/control_listener.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/transport/control_handshake.hpp"

namespace tandem::transport {

namespace {

using clock_type = std::chrono::steady_clock;

enum class pump_result { finished, failed, want_read, want_write, closed, broken };

/// Sends what the handshake has to say and reads what it waits for, until
/// the socket would block or the handshake ends. Never reads past the
/// frame the handshake waits for: the bytes after it belong to BASP.
pump_result pump(int fd, control_handshake& hs) {
  for (;;) {
    if (hs.done())
      return pump_result::finished;
    if (hs.failed())
      return pump_result::failed;
    auto out = hs.pending_output();
    if (!out.empty()) {
      auto n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? pump_result::want_write
                                                       : pump_result::broken;
      hs.output_sent(static_cast<size_t>(n));
      continue;
    }
    uint8_t buf[control_handshake::max_frame];
    auto n = ::recv(fd, buf, hs.wanted(), 0);
    if (n == 0)
      return pump_result::closed;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? pump_result::want_read
                                                     : pump_result::broken;
    hs.consume(buf, static_cast<size_t>(n));
  }
}

std::string peer_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

std::string errno_text(int e) {
  return std::string(std::strerror(e));
}

struct addrinfo_ptr {
  addrinfo* p = nullptr;
  ~addrinfo_ptr() {
    if (p)
      ::freeaddrinfo(p);
  }
};

caf::expected<int> bind_listener(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo_ptr res;
  auto where = (host.empty() ? std::string("*") : host) + ":" + std::to_string(port);
  auto port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints,
                             &res.p);
      rc != 0)
    return make_error(errc::io_failure,
                      "control port " + where + ": cannot resolve: " + gai_strerror(rc));
  int fd = ::socket(res.p->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(errc::io_failure, "control port " + where + ": " + errno_text(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, res.p->ai_addr, res.p->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
    auto e = errno;
    ::close(fd);
    return make_error(errc::io_failure, "control port " + where + ": " + errno_text(e));
  }
  return fd;
}

} // namespace

uint16_t socket_local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return 0;
  if (ss.ss_family == AF_INET)
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

struct control_listener::impl {
  struct slot {
    int fd;
    std::unique_ptr<control_handshake> hs;
    clock_type::time_point deadline;
    std::string peer;
    short events = POLLIN; // what the handshake waits for
    short revents = 0;     // what the last poll reported
  };
  control_listener_settings settings;
  accept_fn on_accept;
  log_fn log;
  int listen_fd = -1;
  int wake_fd = -1;
  std::vector<slot> pending; // at most settings.max_pending
  bool accept_paused = false;    // out of descriptors: not polling listen_fd
  clock_type::time_point accept_resume;

  ~impl() {
    for (auto& p : pending)
      ::close(p.fd);
    if (listen_fd >= 0)
      ::close(listen_fd);
    if (wake_fd >= 0)
      ::close(wake_fd);
  }
};

caf::expected<std::unique_ptr<control_listener>>
control_listener::start(control_listener_settings settings, accept_fn on_accept, log_fn log) {
  auto fd = bind_listener(settings.bind_host, settings.port);
  if (!fd)
    return fd.error();
  std::unique_ptr<control_listener> self{new control_listener};
  self->impl_ = std::make_unique<impl>();
  auto& im = *self->impl_;
  im.listen_fd = *fd;
  im.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (im.wake_fd < 0)
    return make_error(errc::io_failure, "control port: eventfd: " + errno_text(errno));
  im.settings = std::move(settings);
  im.on_accept = std::move(on_accept);
  im.log = std::move(log);
  im.pending.reserve(im.settings.max_pending);
  self->port_ = socket_local_port(im.listen_fd);
  self->thread_ = std::thread([p = self.get()] { p->run(); });
  return self;
}

control_listener::~control_listener() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof(one));
    thread_.join();
  }
}

control_listener_stats control_listener::stats() const {
  return {authenticated_.load(), refused_.load(), timed_out_.load(), turned_away_.load()};
}

int control_listener::poll_timeout_ms() const {
  auto now = clock_type::now();
  int timeout_ms = -1; // nothing pending: only a peer or the stop eventfd wakes us
  auto consider = [&](clock_type::time_point t) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
    left = std::max<decltype(left)>(left, 0);
    if (timeout_ms < 0 || left < timeout_ms)
      timeout_ms = static_cast<int>(left);
  };
  for (auto& p : impl_->pending)
    consider(p.deadline);
  if (impl_->accept_paused)
    consider(impl_->accept_resume);
  return timeout_ms;
}

void control_listener::run() {
  auto& im = *impl_;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({im.wake_fd, POLLIN, 0});
    fds.push_back({im.listen_fd, short(im.accept_paused ? 0 : POLLIN), 0});
    for (auto& p : im.pending)
      fds.push_back({p.fd, p.events, 0});
    int rc = ::poll(fds.data(), fds.size(), poll_timeout_ms());
    if (rc < 0 && errno != EINTR) {
      if (im.log) // poll itself failed: nothing sensible left to do
        im.log("control port: stopped listening: poll: " + errno_text(errno));
      return;
    }
    if (rc > 0 && fds[0].revents != 0)
      return; // stop
    for (size_t i = 0; i < im.pending.size(); ++i)
      im.pending[i].revents = rc > 0 ? fds[i + 2].revents : short{0};
    service_pending();
    if (im.accept_paused && clock_type::now() >= im.accept_resume)
      im.accept_paused = false;
    if (rc > 0 && fds[1].revents != 0)
      accept_new();
  }
}

/// Moves each handshake that has an event on, hands on the finished ones,
/// closes the failed and the overdue ones.
void control_listener::service_pending() {
  auto& im = *impl_;
  auto now = clock_type::now();
  std::vector<impl::slot> keep;
  keep.reserve(im.settings.max_pending);
  for (auto& p : im.pending) {
    std::string why;
    if (p.revents != 0) {
      auto r = pump(p.fd, *p.hs);
      if (r == pump_result::finished) {
        authenticated_++;
        im.on_accept(p.fd, p.peer);
        continue;
      }
      if (r == pump_result::want_read || r == pump_result::want_write)
        p.events = r == pump_result::want_read ? POLLIN : POLLOUT;
      else if (r == pump_result::failed)
        why = p.hs->failure();
      else if (r == pump_result::closed)
        why = "closed the connection during the handshake ("
              + std::string(to_string(p.hs->current())) + ")";
      else
        why = "socket error: " + errno_text(errno);
    }
    if (why.empty() && now >= p.deadline) {
      timed_out_++;
      why = "no complete handshake within " + std::to_string(im.settings.handshake_deadline.count())
            + " ms";
    } else if (!why.empty()) {
      refused_++;
    }
    if (why.empty()) {
      keep.push_back(std::move(p));
      continue;
    }
    ::close(p.fd);
    // A flood of refused peers must not flood the log: the first 10, then
    // every 1000th.
    auto n = refused_.load() + timed_out_.load();
    if (im.log && (n <= 10 || n % 1000 == 0))
      im.log("control port: refused " + p.peer + ": " + why + " (" + std::to_string(n)
             + " refused so far)");
  }
  im.pending = std::move(keep);
}

void control_listener::accept_new() {
  auto& im = *impl_;
  for (;;) {
    int fd = ::accept4(im.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the listening socket stays readable, so stop
        // polling it for a moment instead of spinning.
        im.accept_paused = true;
        im.accept_resume = clock_type::now() + std::chrono::milliseconds{100};
      }
      return; // EAGAIN: all taken; ECONNABORTED and the like: the next poll
    }
    if (im.pending.size() >= im.settings.max_pending) {
      turned_away_++; // counted before the peer can see the close
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    im.pending.push_back(impl::slot{
      fd,
      std::make_unique<control_handshake>(handshake_role::server, im.settings.secret,
                                          random_handshake_nonce()),
      clock_type::now() + im.settings.handshake_deadline, peer_of(fd), POLLIN, 0});
  }
}

namespace {

int ms_left(clock_type::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return static_cast<int>(std::max<decltype(left)>(left, 0));
}

/// Waits for `events` on `fd` until `deadline`; false when it passed.
bool wait_for(int fd, short events, clock_type::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc > 0)
      return true;
    if (rc == 0 || errno != EINTR)
      return false;
  }
}

bool connected_to_itself(int fd) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t ll = sizeof(local);
  socklen_t pl = sizeof(peer);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0
      || ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0)
    return false;
  return ll == pl && std::memcmp(&local, &peer, ll) == 0;
}

/// A connected non-blocking TCP socket to `a`, or -1 with the errno that
/// stopped it in `err` (ETIMEDOUT at the deadline).
int connect_one(const addrinfo* a, clock_type::time_point deadline, int& err) {
  int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
    err = errno;
    ::close(fd);
    return -1;
  }
  if (!wait_for(fd, POLLOUT, deadline)) {
    err = ETIMEDOUT;
    ::close(fd);
    return -1;
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    err = so_error;
    ::close(fd);
    return -1;
  }
  if (connected_to_itself(fd)) {
    // Nothing listened, and TCP's simultaneous open joined the socket to
    // itself (a port in the ephemeral range): the same as a refusal.
    err = ECONNREFUSED;
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/// The client side of the handshake on a connected socket, by `deadline`.
caf::error client_handshake(int fd, const std::string& secret, const std::string& where,
                            clock_type::time_point deadline) {
  control_handshake hs{handshake_role::client, secret, random_handshake_nonce()};
  for (;;) {
    auto r = pump(fd, hs);
    if (r == pump_result::finished)
      return caf::none;
    if (r == pump_result::failed)
      return make_error(errc::malformed_message, "join refused by " + where + ": " + hs.failure());
    if (r == pump_result::closed || r == pump_result::broken)
      return make_error(errc::peer_down, where + " closed the connection during the handshake ("
                                           + to_string(hs.current()) + ")");
    if (!wait_for(fd, r == pump_result::want_read ? POLLIN : POLLOUT, deadline))
      return make_error(errc::timeout, where + " did not finish the handshake in time ("
                                         + to_string(hs.current()) + ")");
  }
}

} // namespace

caf::expected<int> dial_control(const std::string& host, uint16_t port,
                                const std::string& secret, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo_ptr res;
  auto port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res.p); rc != 0)
    return make_error(errc::invalid_argument, "cannot resolve " + where + ": " + gai_strerror(rc));
  int err = 0;
  for (auto* a = res.p; a != nullptr; a = a->ai_next) {
    int fd = connect_one(a, deadline, err);
    if (fd < 0)
      continue;
    if (auto e = client_handshake(fd, secret, where, deadline)) {
      ::close(fd);
      return e;
    }
    return fd;
  }
  if (err == ETIMEDOUT)
    return make_error(errc::timeout, "no connection to " + where + " within the deadline");
  if (err == ECONNREFUSED)
    return make_error(errc::peer_down, "nothing listens on " + where);
  return make_error(errc::io_failure, "cannot connect to " + where + ": " + errno_text(err));
}

} // namespace tandem::transport
