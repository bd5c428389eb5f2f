// control_endpoint_test: the head's control port with real CAF on both ends.
// Each test forks a client process first (before the head's actor system
// starts any thread; the child builds its own system, so the two are
// distinct BASP nodes), hands it the port through a pipe, and reads its
// verdict back through another; every wait has a deadline.
//  - a peer holding the secret reaches the published actor over BASP;
//  - CAF's own remote_actor (BASP with no secret) and a peer with another
//    secret get nothing: the published actor receives no message;
//  - a peer holding the secret that announces a 1 GiB BASP payload is cut
//    off by the relay and the head's memory stays flat.
#include <chrono>
#include <fstream>
#include <functional>
#include <string>

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/transport/control_listener.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/control_endpoint.hpp"

namespace tandem {
namespace {

using namespace std::chrono_literals;

constexpr char secret[] = "correct horse battery staple 42";

/// Reads exactly `n` bytes from `fd` within `deadline_ms`.
bool read_exact(int fd, void* p, size_t n, int deadline_ms) {
  auto* out = static_cast<char*>(p);
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds{deadline_ms};
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  end - std::chrono::steady_clock::now())
                  .count();
    pollfd pf{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&pf, 1, static_cast<int>(left)) != 1)
      return false;
    auto k = ::read(fd, out, n);
    if (k <= 0)
      return false;
    out += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

/// A child process that runs `body(port)` once the parent sends the port;
/// its exit code comes back through verdict().
struct child_process {
  pid_t pid = -1;
  int to_child = -1;
  int from_child = -1;

  explicit child_process(std::function<int(uint16_t)> body) {
    int down[2];
    int up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0)
      return;
    pid = ::fork();
    if (pid == 0) {
      ::close(down[1]);
      ::close(up[0]);
      uint16_t port = 0;
      int code = read_exact(down[0], &port, sizeof(port), 30000) ? body(port) : 99;
      unsigned char c = static_cast<unsigned char>(code);
      [[maybe_unused]] auto n = ::write(up[1], &c, 1);
      ::_exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child = down[1];
    from_child = up[0];
  }

  void go(uint16_t port) {
    [[maybe_unused]] auto n = ::write(to_child, &port, sizeof(port));
  }

  /// The child's result, or -1 when it gave none within 60 s.
  int verdict() {
    unsigned char c = 0;
    int res = read_exact(from_child, &c, 1, 60000) ? c : -1;
    if (res < 0)
      ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(to_child);
    ::close(from_child);
    return res;
  }
};

/// The head: an actor system and a published actor that counts what it
/// receives and answers "pong" to "ping".
struct head {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<std::atomic<int>> received = std::make_shared<std::atomic<int>>(0);
  caf::actor gate;
  std::unique_ptr<control_endpoint> endpoint;

  head() {
    configure_actor_system(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto count = received;
    gate = sys->spawn([count]() -> caf::behavior {
      return {[count](const std::string& s) -> std::string {
        ++*count;
        return s == "ping" ? "pong" : "?";
      }};
    });
    transport::control_listener_settings s;
    s.secret = secret;
    transport::basp_relay_settings r;
    r.max_payload = 1 << 20;
    auto e = serve_control(*sys, gate, s, nullptr, r);
    if (e)
      endpoint = std::move(*e);
  }
  ~head() {
    endpoint.reset();
    caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
  }
};

/// The client's own actor system (in the child).
int with_system(const std::function<int(caf::actor_system&)>& f) {
  caf::actor_system_config cfg;
  configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  return f(sys);
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

TEST(ControlEndpoint, APeerHoldingTheSecretReachesThePublishedActor) {
  child_process child([](uint16_t port) {
    return with_system([&](caf::actor_system& sys) {
      auto gate = connect_control(sys, "127.0.0.1", port, secret, 10s);
      if (!gate)
        return 1;
      caf::scoped_actor self{sys};
      int code = 2;
      self->request(*gate, 10s, std::string{"ping"})
        .receive([&](const std::string& r) { code = r == "pong" ? 0 : 3; },
                 [&](caf::error&) { code = 4; });
      return code;
    });
  });
  head h;
  ASSERT_TRUE(h.endpoint);
  child.go(h.endpoint->port());
  EXPECT_EQ(child.verdict(), 0);
  EXPECT_EQ(*h.received, 1);
  EXPECT_EQ(h.endpoint->stats().authenticated, 1u);
}

TEST(ControlEndpoint, BaspWithoutTheSecretGetsNoMessageThrough) {
  child_process child([](uint16_t port) {
    return with_system([&](caf::actor_system& sys) {
      // CAF's own client: BASP bytes straight away.
      auto plain = sys.middleman().remote_actor("127.0.0.1", port);
      if (plain) {
        caf::anon_send(*plain, std::string{"ping"});
        return 1;
      }
      auto wrong = connect_control(sys, "127.0.0.1", port, "another secret, long enough", 10s);
      if (wrong || !is(wrong.error(), errc::malformed_message))
        return 2;
      return 0;
    });
  });
  head h;
  ASSERT_TRUE(h.endpoint);
  child.go(h.endpoint->port());
  EXPECT_EQ(child.verdict(), 0);
  EXPECT_EQ(*h.received, 0);
  EXPECT_EQ(h.endpoint->stats().authenticated, 0u);
  EXPECT_GE(h.endpoint->stats().refused, 1u);
}

TEST(ControlEndpoint, AnAuthenticatedPeerAnnouncingAGigabyteIsCutOff) {
  child_process child([](uint16_t port) {
    auto fd = transport::dial_control("127.0.0.1", port, secret, 10s);
    if (!fd)
      return 1;
    unsigned char header[32] = {0x01};
    header[4] = 0x40; // payload_len = 2^30, big endian
    if (::send(*fd, header, sizeof(header), MSG_NOSIGNAL) != sizeof(header))
      return 2;
    // The head's BASP server handshake may come first; then the end.
    char buf[4096];
    for (;;) {
      pollfd pf{*fd, POLLIN, 0};
      if (::poll(&pf, 1, 10000) != 1)
        return 3; // never closed
      auto n = ::recv(*fd, buf, sizeof(buf), 0);
      if (n <= 0)
        return 0;
    }
  });
  head h;
  ASSERT_TRUE(h.endpoint);
  auto before = rss_kib();
  child.go(h.endpoint->port());
  EXPECT_EQ(child.verdict(), 0);
  EXPECT_EQ(h.endpoint->relay_stats().over_cap, 1u);
  EXPECT_LT(rss_kib() - before, 64 * 1024) << "head RSS grew by more than 64 MiB";
}

} // namespace
} // namespace tandem
