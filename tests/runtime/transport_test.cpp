// transport_test: frames, payload codecs and the ZeroMQ channels (PUSH/PULL
// rollouts, ROUTER/DEALER weights, CURVE + ZAP). Every wait is bounded by a
// deadline; endpoints are tcp://127.0.0.1:* resolved via ZMQ_LAST_ENDPOINT.
#include <atomic>
#include <random>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/transport/fake_channel.hpp"
#include "runtime/transport/frame.hpp"
#include "runtime/transport/zmq_channel.hpp"

using namespace tandem;
using namespace tandem::transport;
using namespace std::chrono_literals;

namespace {

constexpr size_t max_bytes = size_t{1} << 20;
constexpr char test_secret[] = "correct horse battery staple 42";

deadline in(std::chrono::milliseconds d) {
  return clock::now() + d;
}

frame sample_frame() {
  return frame{frame_kind::rollouts, "sampler-0", 7, {'a', 'b', '\0', 'c'}};
}

std::vector<rollout_group> sample_groups() {
  rollout_group g;
  g.group_id = 11;
  g.problem_id = 3;
  g.prompt = {1, 2, 3};
  g.answer = "7";
  g.sampler = "s0";
  completion_record c;
  c.tokens = {5, 6, -1};
  c.logprobs = {-0.5f, -1.25f, -3.0f};
  c.versions = {4, 4, 5};
  c.finished = true;
  g.completions = {c, completion_record{}};
  return {g, rollout_group{}};
}

void expect_malformed(const caf::expected<frame>& f) {
  ASSERT_FALSE(f);
  EXPECT_TRUE(is(f.error(), errc::malformed_message)) << describe(f.error());
}

rollout_channel_options quiet(std::string endpoint) {
  rollout_channel_options o;
  o.endpoint = std::move(endpoint);
  o.linger = 100ms;
  o.log = [](const std::string&) {};
  return o;
}

std::shared_ptr<transport_context> secret_ctx(const std::string& secret) {
  auto ctx = transport_context::with_secret(secret);
  EXPECT_TRUE(ctx) << describe(ctx.error());
  return *ctx;
}

// Channel tests: every context runs CURVE, so one keyed by the test secret.
std::shared_ptr<transport_context> test_ctx() {
  return secret_ctx(test_secret);
}

// A hand-made PUSH socket of `ctx` that holds the run's client keys (to
// send what no rollout_sender would).
zmq::socket_t raw_push(transport_context& ctx, int linger_ms) {
  zmq::socket_t raw(ctx.zmq(), zmq::socket_type::push);
  raw.set(zmq::sockopt::linger, linger_ms);
  EXPECT_FALSE(apply_curve_client(raw, ctx.keys()));
  return raw;
}

} // namespace

// -- frames -----------------------------------------------------------------------

TEST(Frame, RoundTripsEveryField) {
  auto bytes = encode_frame(sample_frame());
  auto f = decode_frame(bytes.data(), bytes.size(), max_bytes);
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_EQ(f->kind, frame_kind::rollouts);
  EXPECT_EQ(f->sender, "sampler-0");
  EXPECT_EQ(f->seq, 7u);
  EXPECT_EQ(f->payload, sample_frame().payload);
}

TEST(Frame, CorruptedPayloadFailsTheChecksum) {
  auto bytes = encode_frame(sample_frame());
  auto pos = std::string(bytes.begin(), bytes.end()).find("ab");
  ASSERT_NE(pos, std::string::npos);
  bytes[pos] ^= 0x01;
  auto f = decode_frame(bytes.data(), bytes.size(), max_bytes);
  expect_malformed(f);
  EXPECT_NE(describe(f.error()).find("checksum"), std::string::npos);
}

TEST(Frame, WrongMagicIsRejected) {
  auto bytes = encode_frame(sample_frame());
  bytes[2] = 'X'; // [0x97][0xa4]["TNDM"...]
  auto f = decode_frame(bytes.data(), bytes.size(), max_bytes);
  expect_malformed(f);
  EXPECT_NE(describe(f.error()).find("magic"), std::string::npos);
}

TEST(Frame, WrongVersionAndKindAreRejected) {
  auto bytes = encode_frame(sample_frame());
  auto bad_version = bytes;
  bad_version[6] = 9; // the positive fixint after the magic
  expect_malformed(decode_frame(bad_version.data(), bad_version.size(), max_bytes));
  auto bad_kind = bytes;
  bad_kind[7] = 42;
  expect_malformed(decode_frame(bad_kind.data(), bad_kind.size(), max_bytes));
}

TEST(Frame, EveryTruncationIsRejected) {
  auto bytes = encode_frame(sample_frame());
  for (size_t n = 0; n < bytes.size(); ++n)
    expect_malformed(decode_frame(bytes.data(), n, max_bytes));
}

TEST(Frame, TrailingBytesAndOversizeAreRejected) {
  auto bytes = encode_frame(sample_frame());
  auto longer = bytes;
  longer.push_back(0);
  expect_malformed(decode_frame(longer.data(), longer.size(), max_bytes));
  expect_malformed(decode_frame(bytes.data(), bytes.size(), bytes.size() - 1));
}

TEST(Frame, HugeDeclaredSizesAreRejectedWithoutAllocating) {
  // array32 of 4e9 elements, bin32 of 4 GiB: limits reject before allocation.
  std::vector<char> arr = {char(0xdd), char(0xee), char(0x6b), char(0x28), 0};
  expect_malformed(decode_frame(arr.data(), arr.size(), max_bytes));
  std::vector<char> bin = {char(0xc6), char(0xff), char(0xff), char(0xff), char(0xff)};
  expect_malformed(decode_frame(bin.data(), bin.size(), max_bytes));
  EXPECT_FALSE(decode_rollouts(arr.data(), arr.size()));
  EXPECT_FALSE(decode_chunk(bin.data(), bin.size()));
}

TEST(Frame, FuzzedBuffersNeverCrashAndGarbageIsRejected) {
  std::mt19937_64 rng(20240601);
  auto valid = encode_frame(sample_frame());
  auto groups = encode_rollouts(sample_groups());
  size_t accepted_garbage = 0;
  for (int i = 0; i < 4000; ++i) {
    std::vector<char> buf(rng() % 300);
    for (auto& b : buf)
      b = static_cast<char>(rng());
    accepted_garbage += decode_frame(buf.data(), buf.size(), max_bytes) ? 1 : 0;
    (void) decode_rollouts(buf.data(), buf.size());
    (void) decode_chunk(buf.data(), buf.size());
    (void) decode_hello(buf.data(), buf.size());
    // Mutations of valid messages: may decode (e.g. a changed seq), never crash.
    auto m = (i % 2 == 0) ? valid : groups;
    for (int k = 0; k < 3; ++k)
      m[rng() % m.size()] = static_cast<char>(rng());
    (void) decode_frame(m.data(), m.size(), max_bytes);
    (void) decode_rollouts(m.data(), m.size());
  }
  EXPECT_EQ(accepted_garbage, 0u);
}

TEST(Codec, RolloutsRoundTrip) {
  auto in_groups = sample_groups();
  auto bytes = encode_rollouts(in_groups);
  auto out = decode_rollouts(bytes.data(), bytes.size());
  ASSERT_TRUE(out) << describe(out.error());
  ASSERT_EQ(out->size(), 2u);
  const auto& g = (*out)[0];
  EXPECT_EQ(g.group_id, 11u);
  EXPECT_EQ(g.prompt, in_groups[0].prompt);
  EXPECT_EQ(g.answer, "7");
  EXPECT_EQ(g.sampler, "s0");
  ASSERT_EQ(g.completions.size(), 2u);
  EXPECT_EQ(g.completions[0].tokens, in_groups[0].completions[0].tokens);
  EXPECT_EQ(g.completions[0].logprobs, in_groups[0].completions[0].logprobs);
  EXPECT_EQ(g.completions[0].versions, in_groups[0].completions[0].versions);
  EXPECT_TRUE(g.completions[0].finished);
  EXPECT_TRUE(g.completions[1].tokens.empty());
}

TEST(Codec, ChunkRoundTripsBytes) {
  weights_chunk c{9, 1, 3, 10, 0xdeadbeef, {'x', '\0', 'y'}};
  auto bytes = encode_chunk(c);
  auto out = decode_chunk(bytes.data(), bytes.size());
  ASSERT_TRUE(out) << describe(out.error());
  EXPECT_EQ(out->version, 9);
  EXPECT_EQ(out->index, 1u);
  EXPECT_EQ(out->count, 3u);
  EXPECT_EQ(out->total_size, 10u);
  EXPECT_EQ(out->checksum, 0xdeadbeefu);
  EXPECT_EQ(out->bytes, c.bytes);
  EXPECT_LT(bytes.size(), c.bytes.size() + 32); // bin, not element-wise
}

TEST(FakeChannel, BlocksAtCapacityUntilTheDeadline) {
  fake_channel ch(1);
  ASSERT_FALSE(ch.send(sample_frame(), in(100ms)));
  auto err = ch.send(sample_frame(), in(50ms));
  EXPECT_TRUE(is(err, errc::timeout));
  ASSERT_TRUE(ch.recv(in(100ms)));
  EXPECT_TRUE(is(ch.recv(in(20ms)).error(), errc::timeout));
}

// -- rollouts over PUSH/PULL ---------------------------------------------------------

TEST(RolloutChannel, RolloutsRoundTripOverTcp) {
  auto ctx = test_ctx();
  auto rx = rollout_receiver::bind(ctx, quiet("tcp://127.0.0.1:*"));
  ASSERT_TRUE(rx) << describe(rx.error());
  auto opts = quiet((*rx)->endpoint());
  opts.name = "sampler-3";
  auto tx = rollout_sender::connect(ctx, opts);
  ASSERT_TRUE(tx) << describe(tx.error());
  ASSERT_FALSE((*tx)->send_rollouts(sample_groups(), in(2s)));
  ASSERT_FALSE((*tx)->send_rollouts(sample_groups(), in(2s)));
  auto got = (*rx)->recv_rollouts(in(2s));
  ASSERT_TRUE(got) << describe(got.error());
  EXPECT_EQ(got->size(), 2u);
  auto second = (*rx)->recv(in(2s));
  ASSERT_TRUE(second) << describe(second.error());
  EXPECT_EQ(second->sender, "sampler-3");
  EXPECT_EQ(second->seq, 1u);
  EXPECT_EQ((*rx)->stats().frames, 2u);
  EXPECT_TRUE(is((*rx)->recv(in(50ms)).error(), errc::timeout));
}

TEST(RolloutChannel, GarbageFrameIsCountedAndSkipped) {
  auto ctx = test_ctx();
  auto rx = rollout_receiver::bind(ctx, quiet("tcp://127.0.0.1:*"));
  ASSERT_TRUE(rx);
  auto raw = raw_push(*ctx, 100);
  raw.connect((*rx)->endpoint());
  raw.send(zmq::str_buffer("definitely not a frame"), zmq::send_flags::none);
  auto good = encode_frame(sample_frame());
  raw.send(zmq::buffer(good), zmq::send_flags::none);
  auto f = (*rx)->recv(in(2s));
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_EQ(f->payload, sample_frame().payload);
  EXPECT_EQ((*rx)->stats().malformed, 1u);
  EXPECT_EQ((*rx)->stats().frames, 1u);
}

TEST(RolloutChannel, SenderAtHwmWithoutReceiverTimesOutWithinItsDeadline) {
  auto ctx = test_ctx();
  // Port 1 (tcpmux) has no listener; a freed ephemeral port could be taken
  // by another process's listener between unbind and connect.
  auto opts = quiet("tcp://127.0.0.1:1");
  opts.hwm = 4;
  auto tx = rollout_sender::connect(ctx, opts);
  ASSERT_TRUE(tx);
  caf::error err;
  int queued = 0;
  auto started = clock::now();
  for (; queued < 100; ++queued) {
    started = clock::now();
    err = (*tx)->send(sample_frame(), started + 200ms);
    if (err)
      break;
  }
  auto waited = clock::now() - started;
  EXPECT_TRUE(is(err, errc::timeout)) << describe(err);
  EXPECT_GE(queued, 1);
  EXPECT_LE(queued, 8); // the HWM, not an unbounded queue
  EXPECT_GE(waited, 190ms); // it blocked (no silent drop) ...
  EXPECT_LT(waited, 1500ms); // ... but not past its deadline
}

TEST(RolloutChannel, OversizedMessageIsDroppedByLibzmq) {
  auto ctx = test_ctx();
  auto opts = quiet("tcp://127.0.0.1:*");
  opts.max_frame_bytes = 64 * 1024;
  auto rx = rollout_receiver::bind(ctx, opts);
  ASSERT_TRUE(rx);
  {
    auto raw = raw_push(*ctx, 500);
    raw.connect((*rx)->endpoint());
    std::vector<char> big(128 * 1024, 'z');
    raw.send(zmq::buffer(big), zmq::send_flags::none);
  }
  auto tx = rollout_sender::connect(ctx, quiet((*rx)->endpoint()));
  ASSERT_TRUE(tx);
  ASSERT_FALSE((*tx)->send(sample_frame(), in(2s)));
  auto f = (*rx)->recv(in(2s));
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_TRUE(is((*rx)->recv(in(300ms)).error(), errc::timeout));
  EXPECT_EQ((*rx)->stats().frames, 1u);
  EXPECT_EQ((*rx)->stats().malformed, 0u); // never reached application code
}

// -- weights over ROUTER/DEALER ------------------------------------------------------

namespace {

std::vector<char> blob_of(int64_t version, size_t size) {
  std::vector<char> b(size);
  for (size_t i = 0; i < size; ++i)
    b[i] = static_cast<char>((i * 31 + version) & 0xff);
  return b;
}

// Runs the publisher on its own thread while alive; the publisher is touched
// by that thread only.
struct serving {
  weights_publisher& pub;
  std::atomic<bool> stop{false};
  std::thread thread;
  explicit serving(weights_publisher& p) : pub(p) {
    thread = std::thread([this] {
      while (!stop)
        (void) pub.serve_one(in(20ms));
    });
  }
  ~serving() {
    stop = true;
    thread.join();
  }
};

weights_publisher_options pub_opts() {
  weights_publisher_options o;
  o.endpoint = "tcp://127.0.0.1:*";
  o.chunk_bytes = 1000;
  o.max_window = 4;
  o.linger = 100ms;
  return o;
}

weights_subscriber_options sub_opts(std::string endpoint) {
  weights_subscriber_options o;
  o.endpoint = std::move(endpoint);
  o.window = 3; // fewer than the chunks of a version: several round trips
  o.max_chunk_bytes = 1000;
  o.linger = 100ms;
  return o;
}

} // namespace

TEST(WeightsChannel, SubscriberReceivesTheNewestCompleteVersion) {
  auto ctx = test_ctx();
  auto pub = weights_publisher::bind(ctx, pub_opts());
  ASSERT_TRUE(pub) << describe(pub.error());
  ASSERT_FALSE((*pub)->publish(1, blob_of(1, 10500)));
  auto sub = weights_subscriber::connect(ctx, sub_opts((*pub)->endpoint()));
  ASSERT_TRUE(sub);
  {
    serving s(**pub);
    auto got = (*sub)->fetch(in(2s));
    ASSERT_TRUE(got) << describe(got.error());
    ASSERT_TRUE(*got);
    EXPECT_EQ((*got)->version, 1);
    EXPECT_EQ((*got)->bytes, blob_of(1, 10500));
    auto again = (*sub)->fetch(in(2s));
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again); // nothing newer
  }
  EXPECT_EQ((*sub)->stats().chunks, 11u);
  EXPECT_EQ((*sub)->stats().malformed, 0u);
}

TEST(WeightsChannel, LateSubscriberSkipsIntermediateVersions) {
  auto ctx = test_ctx();
  auto pub = weights_publisher::bind(ctx, pub_opts());
  ASSERT_TRUE(pub);
  ASSERT_FALSE((*pub)->publish(1, blob_of(1, 3000)));
  auto sub = weights_subscriber::connect(ctx, sub_opts((*pub)->endpoint()));
  ASSERT_TRUE(sub);
  {
    serving s(**pub);
    auto got = (*sub)->fetch(in(2s));
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*got)->version, 1);
  }
  ASSERT_FALSE((*pub)->publish(2, blob_of(2, 3000)));
  ASSERT_FALSE((*pub)->publish(3, blob_of(3, 2500)));
  EXPECT_TRUE((*pub)->publish(3, blob_of(3, 10))); // versions only grow
  serving s(**pub);
  auto got = (*sub)->fetch(in(2s));
  ASSERT_TRUE(got) << describe(got.error());
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->version, 3);
  EXPECT_EQ((*got)->bytes, blob_of(3, 2500));
  EXPECT_EQ((*sub)->stats().versions, 2u);
  EXPECT_EQ((*sub)->stats().chunks, 3u + 3u); // v2's chunks never travelled
}

TEST(WeightsChannel, FetchWithoutPublisherTimesOut) {
  auto ctx = test_ctx();
  auto sub = weights_subscriber::connect(ctx, sub_opts("tcp://127.0.0.1:1"));
  ASSERT_TRUE(sub);
  auto started = clock::now();
  auto got = (*sub)->fetch(in(200ms));
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::timeout));
  EXPECT_LT(clock::now() - started, 1500ms);
}

// -- CURVE ------------------------------------------------------------------------------

TEST(Auth, SecretsAreLoadedAndValidated) {
  ::setenv("TANDEM_TEST_SECRET", "short", 1);
  EXPECT_FALSE(load_secret("", "TANDEM_TEST_SECRET"));
  ::setenv("TANDEM_TEST_SECRET", "0123456789abcdef0123\n", 1);
  auto s = load_secret("", "TANDEM_TEST_SECRET");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "0123456789abcdef0123");
  EXPECT_FALSE(load_secret("", "TANDEM_TEST_SECRET_UNSET"));
  EXPECT_FALSE(load_secret("/nonexistent/secret", ""));
  EXPECT_FALSE(load_secret("", ""));
  auto a = derive_curve_keys(test_secret);
  auto b = derive_curve_keys(test_secret);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->server.public_key, b->server.public_key);
  EXPECT_EQ(a->client.secret_key, b->client.secret_key);
  EXPECT_NE(a->server.public_key, a->client.public_key);
  EXPECT_FALSE(derive_curve_keys("short"));
}

namespace {

// Sends one frame from a client context; true if the server's app code got it.
bool delivered(const std::shared_ptr<transport_context>& server,
               const std::shared_ptr<transport_context>& client,
               std::chrono::milliseconds wait) {
  auto rx = rollout_receiver::bind(server, quiet("tcp://127.0.0.1:*"));
  EXPECT_TRUE(rx);
  auto tx = rollout_sender::connect(client, quiet((*rx)->endpoint()));
  EXPECT_TRUE(tx);
  EXPECT_FALSE((*tx)->send(sample_frame(), in(2s)));
  auto f = (*rx)->recv(in(wait));
  if (!f) {
    EXPECT_TRUE(is(f.error(), errc::timeout));
  }
  EXPECT_EQ((*rx)->stats().malformed, 0u);
  return static_cast<bool>(f);
}

} // namespace

TEST(Auth, ClientWithTheSecretExchangesFrames) {
  auto server = secret_ctx(test_secret);
  auto client = secret_ctx(test_secret);
  EXPECT_TRUE(delivered(server, client, 2s));
  EXPECT_GE(server->zap().accepted, 1u);
  EXPECT_EQ(server->zap().refused, 0u);
}

TEST(Auth, ClientWithAWrongSecretGetsNothingThrough) {
  auto server = secret_ctx(test_secret);
  auto client = secret_ctx("a different secret of enough length");
  EXPECT_FALSE(delivered(server, client, 500ms));
}

TEST(Auth, AContextNeedsASecret) {
  auto none = transport_context::with_secret("");
  ASSERT_FALSE(none);
  EXPECT_TRUE(is(none.error(), errc::invalid_argument)) << describe(none.error());
  EXPECT_FALSE(transport_context::with_secret("too short"));
}

namespace {

// A plain TCP connection to `endpoint` (tcp://127.0.0.1:PORT) that writes
// `bytes` and closes: no ZeroMQ, no key.
void write_raw_tcp(const std::string& endpoint, const std::string& bytes) {
  auto colon = endpoint.rfind(':');
  ASSERT_NE(colon, std::string::npos);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

} // namespace

// A local process with no key at all: a plain ZeroMQ socket (NULL mechanism)
// against the always-CURVE receiver.
TEST(Auth, PlainZeroMqClientGetsNothingThrough) {
  auto server = test_ctx();
  auto rx = rollout_receiver::bind(server, quiet("tcp://127.0.0.1:*"));
  ASSERT_TRUE(rx);
  zmq::context_t bare;
  zmq::socket_t plain(bare, zmq::socket_type::push);
  plain.set(zmq::sockopt::linger, 0);
  plain.connect((*rx)->endpoint());
  auto good = encode_frame(sample_frame());
  (void) plain.send(zmq::buffer(good), zmq::send_flags::dontwait);
  EXPECT_TRUE(is((*rx)->recv(in(500ms)).error(), errc::timeout));
  EXPECT_EQ((*rx)->stats().frames, 0u);
  EXPECT_EQ((*rx)->stats().malformed, 0u); // nothing reached the decoder
  EXPECT_EQ(server->zap().accepted, 0u);
}

// The same for the weights server: a plain DEALER's hello is never answered.
TEST(Auth, PlainZeroMqClientGetsNoWeights) {
  auto server = test_ctx();
  auto pub = weights_publisher::bind(server, pub_opts());
  ASSERT_TRUE(pub);
  ASSERT_FALSE((*pub)->publish(1, blob_of(1, 3000)));
  zmq::context_t bare;
  zmq::socket_t plain(bare, zmq::socket_type::dealer);
  plain.set(zmq::sockopt::linger, 0);
  plain.set(zmq::sockopt::rcvtimeo, 300);
  plain.connect((*pub)->endpoint());
  frame hello{frame_kind::hello, "intruder", 0, {}};
  auto bytes = encode_frame(hello);
  (void) plain.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  EXPECT_TRUE(is((*pub)->serve_one(in(500ms)), errc::timeout));
  zmq::message_t answer;
  EXPECT_FALSE(plain.recv(answer, zmq::recv_flags::none));
  EXPECT_EQ((*pub)->stats().requests, 0u);
  EXPECT_EQ((*pub)->stats().malformed, 0u);
}

// Raw bytes on the port (no ZMTP greeting, then a NULL-mechanism greeting
// and garbage) never reach the decoder; a keyed client still gets through.
TEST(Auth, RawBytesReachNoDecoderAndTheChannelStaysUsable) {
  auto server = test_ctx();
  auto rx = rollout_receiver::bind(server, quiet("tcp://127.0.0.1:*"));
  ASSERT_TRUE(rx);
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<char>(i * 7 + 3);
  write_raw_tcp((*rx)->endpoint(), garbage);
  std::string greeting("\xff\0\0\0\0\0\0\0\x01\x7f\x03\x00NULL", 16);
  greeting.resize(64, '\0');
  write_raw_tcp((*rx)->endpoint(), greeting + garbage);
  auto tx = rollout_sender::connect(test_ctx(), quiet((*rx)->endpoint()));
  ASSERT_TRUE(tx);
  ASSERT_FALSE((*tx)->send(sample_frame(), in(2s)));
  auto f = (*rx)->recv(in(2s));
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_EQ((*rx)->stats().frames, 1u);
  EXPECT_EQ((*rx)->stats().malformed, 0u);
}

TEST(Auth, ClientKnowingOnlyTheServerKeyIsRefusedByZap) {
  auto server = secret_ctx(test_secret);
  auto keys = derive_curve_keys(test_secret);
  auto foreign = random_curve_keypair();
  ASSERT_TRUE(keys && foreign);
  keys->client = *foreign;
  keys->server.secret_key.clear(); // the client never holds it
  auto client = transport_context::make(*keys);
  ASSERT_TRUE(client);
  EXPECT_FALSE(delivered(server, *client, 500ms));
  // The handshake reached the ZAP handler and was refused there.
  auto until = in(2s);
  while (server->zap().refused == 0 && clock::now() < until)
    std::this_thread::yield();
  EXPECT_GE(server->zap().refused, 1u);
  EXPECT_EQ(server->zap().accepted, 0u);
}

TEST(Auth, WeightsTravelWithCurve) {
  auto server = secret_ctx(test_secret);
  auto client = secret_ctx(test_secret);
  auto pub = weights_publisher::bind(server, pub_opts());
  ASSERT_TRUE(pub);
  ASSERT_FALSE((*pub)->publish(5, blob_of(5, 4000)));
  auto sub = weights_subscriber::connect(client, sub_opts((*pub)->endpoint()));
  ASSERT_TRUE(sub);
  serving s(**pub);
  auto got = (*sub)->fetch(in(2s));
  ASSERT_TRUE(got) << describe(got.error());
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->bytes, blob_of(5, 4000));
}
