// control_handshake_test: the control port's mutual challenge-response and
// the relay that caps BASP payload announcements. The handshake first
// as a pure state machine (bytes moved by hand, fixed nonces), then through
// control_listener and dial_control on loopback sockets: wrong secret,
// silence past the deadline, garbage, a BASP header announcing 1 GiB, too
// many pending handshakes. Every wait is bounded (the listener's log line or
// a socket receive with a timeout).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/transport/basp_relay.hpp"
#include "runtime/transport/control_handshake.hpp"
#include "runtime/transport/control_listener.hpp"

using namespace tandem;
using namespace tandem::transport;
using namespace std::chrono_literals;

namespace {

constexpr char secret[] = "correct horse battery staple 42";
using state = control_handshake::state;

handshake_nonce nonce_of(uint8_t b) {
  handshake_nonce n;
  n.fill(b);
  return n;
}

/// Moves every pending byte from `from` to `to`; false if nothing moved.
bool move_bytes(control_handshake& from, control_handshake& to) {
  auto out = from.pending_output();
  if (out.empty())
    return false;
  std::vector<uint8_t> bytes(out.begin(), out.end());
  from.output_sent(bytes.size());
  to.consume(bytes.data(), bytes.size());
  return true;
}

void run_both(control_handshake& c, control_handshake& s) {
  for (int i = 0; i < 10 && (move_bytes(c, s) || move_bytes(s, c));)
    ++i;
}

TEST(ControlHandshake, TwoHoldersOfTheSecretBothFinish) {
  control_handshake c{handshake_role::client, secret, nonce_of(1)};
  control_handshake s{handshake_role::server, secret, nonce_of(2)};
  EXPECT_EQ(c.pending_output().size(), control_handshake::client_hello_size);
  EXPECT_EQ(s.wanted(), control_handshake::client_hello_size);
  run_both(c, s);
  EXPECT_TRUE(c.done()) << to_string(c.current()) << " " << c.failure();
  EXPECT_TRUE(s.done()) << to_string(s.current()) << " " << s.failure();
}

TEST(ControlHandshake, AClientWithAnotherSecretStopsAtTheServersProof) {
  control_handshake c{handshake_role::client, "another secret, long enough", nonce_of(1)};
  control_handshake s{handshake_role::server, secret, nonce_of(2)};
  run_both(c, s);
  EXPECT_TRUE(c.failed());
  EXPECT_NE(c.failure().find("secret"), std::string::npos) << c.failure();
  EXPECT_FALSE(s.done()); // it never proved anything: the server waits (deadline: listener)
}

TEST(ControlHandshake, AServerRefusesAProofMadeWithAnotherSecret) {
  // The client skips checking the server (an attacker would): the server
  // still refuses its proof and never sends accept.
  control_handshake s{handshake_role::server, secret, nonce_of(2)};
  control_handshake c{handshake_role::client, "another secret, long enough", nonce_of(1)};
  move_bytes(c, s);
  auto hello = s.pending_output();
  s.output_sent(hello.size());
  std::array<uint8_t, control_handshake::proof_size> forged{};
  forged.fill(0x5a);
  s.consume(forged.data(), forged.size());
  EXPECT_TRUE(s.failed());
  EXPECT_TRUE(s.pending_output().empty());
}

TEST(ControlHandshake, AServersProofReflectedBackIsRefused) {
  control_handshake s{handshake_role::server, secret, nonce_of(2)};
  control_handshake c{handshake_role::client, secret, nonce_of(1)};
  move_bytes(c, s);
  auto hello = s.pending_output();
  std::vector<uint8_t> h(hello.begin(), hello.end());
  s.output_sent(h.size());
  // The server's own MAC (the last 32 bytes of its hello) as the client's proof.
  s.consume(h.data() + h.size() - control_handshake::mac_size, control_handshake::mac_size);
  EXPECT_TRUE(s.failed());
}

TEST(ControlHandshake, AProofRecordedInOneSessionFailsInTheNext) {
  control_handshake c1{handshake_role::client, secret, nonce_of(1)};
  control_handshake s1{handshake_role::server, secret, nonce_of(2)};
  move_bytes(c1, s1);
  move_bytes(s1, c1);
  auto proof = c1.pending_output();
  std::vector<uint8_t> recorded(proof.begin(), proof.end());
  control_handshake s2{handshake_role::server, secret, nonce_of(3)}; // a fresh nonce
  control_handshake c2{handshake_role::client, secret, nonce_of(1)}; // the replayed hello
  move_bytes(c2, s2);
  s2.output_sent(s2.pending_output().size());
  s2.consume(recorded.data(), recorded.size());
  EXPECT_TRUE(s2.failed());
}

TEST(ControlHandshake, GarbageAndBaspHeadersFailAtTheFirstFrame) {
  // A CAF BASP header announcing a 1 GiB payload, then padding to a hello.
  std::vector<uint8_t> basp(control_handshake::client_hello_size, 0);
  basp[0] = 0x01;                                           // client_handshake
  basp[4] = 0x40;                                           // payload_len = 2^30, big endian
  control_handshake s{handshake_role::server, secret, nonce_of(2)};
  s.consume(basp.data(), basp.size());
  EXPECT_TRUE(s.failed());
  EXPECT_NE(s.failure().find("does not speak"), std::string::npos);
}

TEST(ControlHandshake, MoreBytesThanTheFrameFailInsteadOfBuffering) {
  std::vector<uint8_t> lots(control_handshake::client_hello_size + 1, 'x');
  control_handshake s{handshake_role::server, secret, nonce_of(2)};
  s.consume(lots.data(), lots.size());
  EXPECT_TRUE(s.failed());
}

// --- through sockets ---------------------------------------------------------

/// A listener on 127.0.0.1 whose accepted sockets and log lines the test
/// waits for, each wait bounded.
struct ListenerFixture : ::testing::Test {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<int> accepted;
  std::vector<std::string> lines;
  std::unique_ptr<control_listener> listener;

  void start(control_listener_settings s) {
    s.bind_host = "127.0.0.1";
    auto l = control_listener::start(
      std::move(s),
      [this](int fd, const std::string&) {
        std::lock_guard<std::mutex> g{mx};
        accepted.push_back(fd);
        cv.notify_all();
      },
      [this](const std::string& line) {
        std::lock_guard<std::mutex> g{mx};
        lines.push_back(line);
        cv.notify_all();
      });
    ASSERT_TRUE(l) << describe(l.error());
    listener = std::move(*l);
  }

  void TearDown() override {
    listener.reset();
    for (int fd : accepted)
      ::close(fd);
  }

  bool wait_lines(size_t n, std::chrono::milliseconds d = 5s) {
    std::unique_lock<std::mutex> g{mx};
    return cv.wait_for(g, d, [&] { return lines.size() >= n; });
  }

  bool wait_accepted(size_t n, std::chrono::milliseconds d = 5s) {
    std::unique_lock<std::mutex> g{mx};
    return cv.wait_for(g, d, [&] { return accepted.size() >= n; });
  }

  /// A plain TCP connection to the listener (blocking, 5 s receive timeout).
  int raw_connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(listener->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }

  /// True when the peer closed `fd` (recv sees the end, not the timeout),
  /// after reading at most `up_to` bytes it sent first.
  static bool closed_by_peer(int fd, size_t up_to = 0) {
    char buf[256];
    size_t got = 0;
    for (;;) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n == 0)
        return true;
      if (n < 0 && errno == ECONNRESET)
        return true;
      if (n < 0)
        return false; // the 5 s timeout
      got += static_cast<size_t>(n);
      if (got > up_to)
        return false;
    }
  }
};

TEST_F(ListenerFixture, AnHonestPeerGetsItsSocketHandedOnWithNoByteSwallowed) {
  start({});
  auto fd = dial_control("127.0.0.1", listener->port(), "", 5s);
  ASSERT_TRUE(fd) << describe(fd.error());
  ASSERT_TRUE(wait_accepted(1));
  // The first bytes after the handshake arrive whole on the other side.
  ASSERT_EQ(::send(*fd, "BASP", 4, MSG_NOSIGNAL), 4);
  pollfd p{accepted[0], POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[8] = {};
  EXPECT_EQ(::recv(accepted[0], buf, sizeof(buf), 0), 4);
  EXPECT_EQ(std::string(buf, 4), "BASP");
  ::close(*fd);
  EXPECT_EQ(listener->stats().authenticated, 1u);
}

TEST_F(ListenerFixture, APeerWithAnotherSecretIsRefusedAndNeverHandedOn) {
  control_listener_settings s;
  s.secret = secret;
  start(s);
  auto fd = dial_control("127.0.0.1", listener->port(), "another secret, long enough", 5s);
  ASSERT_FALSE(fd);
  EXPECT_TRUE(is(fd.error(), errc::malformed_message)) << describe(fd.error());
  EXPECT_NE(describe(fd.error()).find("join refused"), std::string::npos);
  ASSERT_TRUE(wait_lines(1));
  EXPECT_EQ(listener->stats().refused, 1u);
  EXPECT_TRUE(accepted.empty());
  auto good = dial_control("127.0.0.1", listener->port(), secret, 5s);
  ASSERT_TRUE(good) << describe(good.error());
  ::close(*good);
}

TEST_F(ListenerFixture, ASilentPeerIsClosedAtTheHandshakeDeadline) {
  control_listener_settings s;
  s.secret = secret;
  s.handshake_deadline = 200ms;
  start(s);
  int fd = raw_connect();
  ASSERT_TRUE(wait_lines(1));
  EXPECT_NE(lines[0].find("no complete handshake within 200 ms"), std::string::npos) << lines[0];
  EXPECT_TRUE(closed_by_peer(fd));
  EXPECT_EQ(listener->stats().timed_out, 1u);
  ::close(fd);
}

TEST_F(ListenerFixture, GarbageAndA1GiBBaspHeaderAreRefusedAtTheFirstFrame) {
  control_listener_settings s;
  s.secret = secret;
  start(s);
  std::vector<uint8_t> basp(32, 0);
  basp[0] = 0x01;
  basp[4] = 0x40; // payload_len 2^30
  std::vector<uint8_t> garbage(4096);
  for (size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<uint8_t>(i * 31 + 7);
  for (auto* bytes : {&basp, &garbage}) {
    int fd = raw_connect();
    ::send(fd, bytes->data(), bytes->size(), MSG_NOSIGNAL);
    if (bytes == &basp) // a hello is 40 bytes: pad the 32-byte header
      ::send(fd, garbage.data(), 8, MSG_NOSIGNAL);
    EXPECT_TRUE(closed_by_peer(fd));
    ::close(fd);
  }
  ASSERT_TRUE(wait_lines(2));
  EXPECT_EQ(listener->stats().refused, 2u);
  EXPECT_TRUE(accepted.empty());
}

TEST_F(ListenerFixture, PeersBeyondMaxPendingAreClosedAtAcceptAndTheSlotsFreeUp) {
  control_listener_settings s;
  s.secret = secret;
  s.max_pending = 2;
  s.handshake_deadline = 300ms;
  start(s);
  int a = raw_connect();
  int b = raw_connect();
  int c = raw_connect(); // the third: closed at once
  EXPECT_TRUE(closed_by_peer(c));
  EXPECT_EQ(listener->stats().turned_away, 1u);
  ASSERT_TRUE(wait_lines(2)); // a and b time out
  EXPECT_EQ(listener->stats().timed_out, 2u);
  auto good = dial_control("127.0.0.1", listener->port(), secret, 5s);
  ASSERT_TRUE(good) << describe(good.error());
  for (int fd : {a, b, c, *good})
    ::close(fd);
}

TEST(DialControl, NothingListeningIsPeerDown) {
  // Bind and close a port: nothing listens there afterwards.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  auto got = dial_control("127.0.0.1", ntohs(a.sin_port), secret, 2s);
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::peer_down)) << describe(got.error());
}

// --- the BASP relay ------------------------------------------------------------

std::vector<uint8_t> basp_frame(uint32_t payload_len, uint8_t fill = 0xab) {
  std::vector<uint8_t> f(32 + payload_len, fill);
  std::fill(f.begin(), f.begin() + 32, 0);
  f[0] = 0x02; // direct_message
  f[4] = static_cast<uint8_t>(payload_len >> 24);
  f[5] = static_cast<uint8_t>(payload_len >> 16);
  f[6] = static_cast<uint8_t>(payload_len >> 8);
  f[7] = static_cast<uint8_t>(payload_len);
  return f;
}

TEST(BaspMeter, CountsFramesSplitAnywhereAndStopsAtAnOversizeHeader) {
  basp_meter m{100};
  std::vector<uint8_t> stream;
  for (uint32_t len : {0u, 100u, 7u}) {
    auto f = basp_frame(len);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (size_t i = 0; i < stream.size(); ++i) // one byte at a time
    ASSERT_TRUE(m.feed(&stream[i], 1)) << i;
  EXPECT_EQ(m.frames(), 3u);
  auto big = basp_frame(0);
  big[4] = 0x40; // 1 GiB
  EXPECT_TRUE(m.feed(big.data(), 20)); // a partial header says nothing yet
  basp_meter m2{100};
  EXPECT_TRUE(m2.feed(big.data(), 31)); // the length is known only with the whole header
  EXPECT_FALSE(m2.feed(big.data() + 31, 1));
  EXPECT_EQ(m2.announced(), 1u << 30);
  EXPECT_FALSE(m2.feed(stream.data(), 32)); // stays refused
}

/// A relay with one link: `net` is the test's end of the peer's socket,
/// `caf` the socket CAF would get.
struct RelayFixture : ::testing::Test {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<std::string> lines;
  std::unique_ptr<basp_relay> relay;
  int net = -1;
  int caf = -1;

  void start(basp_relay_settings s) {
    auto r = basp_relay::start(s, [this](const std::string& line) {
      std::lock_guard<std::mutex> g{mx};
      lines.push_back(line);
      cv.notify_all();
    });
    ASSERT_TRUE(r) << describe(r.error());
    relay = std::move(*r);
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    net = pair[0];
    auto c = relay->add(pair[1], "peer");
    ASSERT_TRUE(c) << describe(c.error());
    caf = *c;
    for (int fd : {net, caf}) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
  }

  void TearDown() override {
    for (int fd : {net, caf})
      if (fd >= 0)
        ::close(fd);
    relay.reset(); // CAF's end closed: no drain to wait for
  }

  /// Reads until the end (or the 5 s timeout: then -1).
  static long read_all(int fd, std::vector<uint8_t>& into) {
    uint8_t buf[65536];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n == 0)
        return static_cast<long>(into.size());
      if (n < 0)
        return errno == ECONNRESET ? static_cast<long>(into.size()) : -1;
      into.insert(into.end(), buf, buf + n);
    }
  }
};

TEST_F(RelayFixture, CarriesFramesBothWaysAndPassesOnEachEnd) {
  start({});
  std::vector<uint8_t> in;
  for (uint32_t len : {0u, 1000u, 300000u}) { // one larger than the relay's buffer
    auto f = basp_frame(len, static_cast<uint8_t>(len));
    in.insert(in.end(), f.begin(), f.end());
  }
  std::thread writer([&] {
    ASSERT_EQ(::send(net, in.data(), in.size(), MSG_NOSIGNAL), static_cast<ssize_t>(in.size()));
    ::shutdown(net, SHUT_WR);
  });
  std::vector<uint8_t> got;
  EXPECT_EQ(read_all(caf, got), static_cast<long>(in.size()));
  writer.join();
  EXPECT_TRUE(got == in);
  // CAF's last words reach the peer before its end does.
  ASSERT_EQ(::send(caf, "bye", 3, MSG_NOSIGNAL), 3);
  ::close(caf);
  caf = -1;
  std::vector<uint8_t> back;
  EXPECT_EQ(read_all(net, back), 3);
  EXPECT_EQ(std::string(back.begin(), back.end()), "bye");
}

TEST_F(RelayFixture, StoppingPassesOnWhatCafWroteBeforeClosing) {
  start({});
  std::vector<uint8_t> last(1000, 7);
  ASSERT_EQ(::send(caf, last.data(), last.size(), MSG_NOSIGNAL), 1000);
  ::close(caf);
  caf = -1;
  relay.reset(); // drains: CAF's end is closed and its bytes go out first
  std::vector<uint8_t> got;
  EXPECT_EQ(read_all(net, got), 1000);
}

TEST_F(RelayFixture, AHeaderAnnouncingMoreThanTheCapClosesBothEndsBeforeCafSeesIt) {
  basp_relay_settings s;
  s.max_payload = 1 << 20;
  start(s);
  auto ok = basp_frame(10);
  auto big = basp_frame(0);
  big[4] = 0x40; // 1 GiB
  std::vector<uint8_t> in(ok);
  in.insert(in.end(), big.begin(), big.end());
  ASSERT_EQ(::send(net, in.data(), in.size(), MSG_NOSIGNAL), static_cast<ssize_t>(in.size()));
  std::vector<uint8_t> got;
  EXPECT_GE(read_all(caf, got), 0); // ends, not times out
  EXPECT_LT(got.size(), ok.size() + 32) << "CAF never holds the whole over-size header";
  std::vector<uint8_t> back;
  EXPECT_GE(read_all(net, back), 0); // the peer's connection is closed too
  std::unique_lock<std::mutex> g{mx};
  ASSERT_TRUE(cv.wait_for(g, 5s, [&] { return !lines.empty(); }));
  EXPECT_NE(lines[0].find("1073741824"), std::string::npos) << lines[0];
  EXPECT_EQ(relay->stats().over_cap, 1u);
}

TEST_F(RelayFixture, ConnectionsBeyondTheLimitAreRefused) {
  basp_relay_settings s;
  s.max_connections = 1;
  start(s);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  auto second = relay->add(pair[1], "second");
  ASSERT_FALSE(second);
  EXPECT_TRUE(is(second.error(), errc::capacity_exceeded)) << describe(second.error());
  char c;
  EXPECT_EQ(::recv(pair[0], &c, 1, 0), 0); // closed by the relay
  ::close(pair[0]);
}

} // namespace
