// auth.hpp: shared-secret authentication of the data plane (ZeroMQ CURVE +
// a ZAP handler).
//
// Key derivation: every process of a run holds the same secret (file or
// environment variable, or the run directory's generated one, see
// run_secret.hpp; never logged). From it each derives, with libsodium's
// keyed BLAKE2b (crypto_generichash, a distinct key string per role), the
// 32-byte CURVE secret key of the "server" (binding side) and of the "client"
// (connecting side); zmq_curve_public gives the public keys. The binding side
// runs CURVE as server and a ZAP handler that accepts exactly one client
// public key, the derived one. A peer without the secret therefore fails the
// handshake: either the CURVE crypto (wrong server key) or the ZAP check
// (wrong client key), before any frame reaches application code.
// Consequence of a shared secret: every holder can act as server and client;
// there is no per-process identity. Rotating the secret rotates every key.
//
// Thread safety: derive_curve_keys and load_secret are stateless. zap_handler
// owns one thread that alone touches its sockets; stats() is safe from any
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <zmq.hpp>

namespace tandem::transport {

/// Shorter secrets are rejected: 16 bytes of a random token are ~96+ bits.
constexpr size_t min_secret_bytes = 16;

/// Longest accepted secret file; guards against pointing at a huge file.
constexpr size_t max_secret_file_bytes = 4096;

/// A CURVE keypair, both halves Z85-encoded (40 characters).
struct curve_keypair {
  std::string public_key;
  std::string secret_key;
};

struct curve_keys {
  curve_keypair server;
  curve_keypair client;
};

/// Reads the secret from `file` if non-empty, else from the environment
/// variable `env` if non-empty. Trailing whitespace (a newline) is stripped.
/// errc::invalid_config when no source yields a secret or it is shorter than
/// min_secret_bytes; errors name the source, never the secret.
caf::expected<std::string> load_secret(const std::string& file,
                                       const std::string& env);

/// Keyed BLAKE2b-256 of `message` under `secret`, hex-encoded: the proof a
/// joining peer sends to the head's gate (control plane). errc::invalid_argument
/// for a secret shorter than min_secret_bytes (an empty one included).
caf::expected<std::string> keyed_mac(const std::string& secret, const std::string& message);

/// Constant-time comparison of two MACs.
bool macs_equal(const std::string& a, const std::string& b);

/// 32 random bytes, hex-encoded (a one-time challenge).
std::string random_nonce();

/// Derives both keypairs deterministically from `secret`.
caf::expected<curve_keys> derive_curve_keys(const std::string& secret);

/// A fresh random keypair (tests: a client that knows the server key only).
caf::expected<curve_keypair> random_curve_keypair();

/// Sets CURVE server options (and the ZAP domain) on a binding socket.
caf::error apply_curve_server(zmq::socket_t& s, const curve_keys& keys);

/// Sets CURVE client options on a connecting socket.
caf::error apply_curve_client(zmq::socket_t& s, const curve_keys& keys);

struct zap_stats {
  uint64_t accepted = 0;
  uint64_t refused = 0;
};

/// Answers ZAP requests (inproc://zeromq.zap.01) of one zmq context.
/// States: running (after start) -> stopped (destructor: signals the thread
/// through an inproc pair, joins it, closes its sockets). At most one per
/// context: libzmq allows one ZAP endpoint.
class zap_handler {
public:
  /// Accepts CURVE clients whose public key is `client_public_z85`.
  static caf::expected<std::unique_ptr<zap_handler>>
  start(zmq::context_t& ctx, const std::string& client_public_z85);

  ~zap_handler();
  zap_handler(const zap_handler&) = delete;
  zap_handler& operator=(const zap_handler&) = delete;

  zap_stats stats() const;

private:
  zap_handler() = default;
  void run();
  bool answer_one();

  std::string allowed_; // 32 raw bytes
  zmq::socket_t zap_;
  zmq::socket_t stop_rx_;
  zmq::socket_t stop_tx_;
  std::thread thread_;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
};

} // namespace tandem::transport
