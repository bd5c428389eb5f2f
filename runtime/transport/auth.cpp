#include "runtime/transport/auth.hpp"

#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include <sodium.h>

#include <zmq_addon.hpp>

#include "runtime/error.hpp"

namespace tandem::transport {

namespace {

// Domain separation: the two roles get unrelated keys from one secret.
constexpr char server_key_context[] = "tandem/curve/server/v1";
constexpr char client_key_context[] = "tandem/curve/client/v1";

std::string strip_trailing_space(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '
                        || s.back() == '\t'))
    s.pop_back();
  return s;
}

caf::expected<std::string> read_secret_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return make_error(errc::invalid_config, "secret file " + file + " cannot be read");
  std::string s;
  s.resize(max_secret_file_bytes + 1);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<size_t>(in.gcount()));
  if (s.size() > max_secret_file_bytes)
    return make_error(errc::invalid_config, "secret file " + file + " is larger than "
                                              + std::to_string(max_secret_file_bytes)
                                              + " bytes");
  return s;
}

caf::expected<curve_keypair> keypair_from_seed(const unsigned char* seed32) {
  std::array<char, 41> secret_z85{};
  std::array<char, 41> public_z85{};
  if (zmq_z85_encode(secret_z85.data(), seed32, 32) == nullptr
      || zmq_curve_public(public_z85.data(), secret_z85.data()) != 0)
    return make_error(errc::backend_failure, "libzmq lacks CURVE support");
  return curve_keypair{std::string(public_z85.data(), 40),
                       std::string(secret_z85.data(), 40)};
}

caf::expected<curve_keypair> derive_one(const std::string& secret,
                                        const char* context) {
  std::array<unsigned char, 32> seed{};
  auto ctx_len = std::char_traits<char>::length(context);
  if (crypto_generichash(seed.data(), seed.size(),
                         reinterpret_cast<const unsigned char*>(secret.data()),
                         secret.size(),
                         reinterpret_cast<const unsigned char*>(context),
                         ctx_len) != 0)
    return make_error(errc::backend_failure, "crypto_generichash failed");
  auto kp = keypair_from_seed(seed.data());
  sodium_memzero(seed.data(), seed.size());
  return kp;
}

caf::error init_sodium() {
  if (sodium_init() < 0)
    return make_error(errc::backend_failure, "libsodium failed to initialise");
  return caf::none;
}

} // namespace

caf::expected<std::string> load_secret(const std::string& file,
                                       const std::string& env) {
  std::string secret;
  std::string source;
  if (!file.empty()) {
    auto got = read_secret_file(file);
    if (!got)
      return got.error();
    secret = std::move(*got);
    source = "secret file " + file;
  } else if (!env.empty()) {
    const char* v = std::getenv(env.c_str());
    if (v == nullptr)
      return make_error(errc::invalid_config, "environment variable " + env + " is not set");
    secret = v;
    source = "environment variable " + env;
  } else {
    return make_error(errc::invalid_config, "no secret file or environment variable given");
  }
  secret = strip_trailing_space(std::move(secret));
  if (secret.size() < min_secret_bytes)
    return make_error(errc::invalid_config, source + " holds a secret shorter than "
                                              + std::to_string(min_secret_bytes)
                                              + " bytes");
  return secret;
}

caf::expected<curve_keys> derive_curve_keys(const std::string& secret) {
  if (secret.size() < min_secret_bytes)
    return make_error(errc::invalid_argument, "secret shorter than "
                                                + std::to_string(min_secret_bytes)
                                                + " bytes");
  if (auto err = init_sodium())
    return err;
  auto server = derive_one(secret, server_key_context);
  if (!server)
    return server.error();
  auto client = derive_one(secret, client_key_context);
  if (!client)
    return client.error();
  return curve_keys{std::move(*server), std::move(*client)};
}

caf::expected<curve_keypair> random_curve_keypair() {
  if (auto err = init_sodium())
    return err;
  std::array<unsigned char, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  return keypair_from_seed(seed.data());
}

caf::error apply_curve_server(zmq::socket_t& s, const curve_keys& keys) {
  try {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, keys.server.secret_key);
    // A non-empty domain makes libzmq consult the ZAP handler for every
    // handshake on this socket.
    s.set(zmq::sockopt::zap_domain, "tandem");
    return caf::none;
  } catch (const zmq::error_t& e) {
    return make_error(errc::backend_failure, std::string{"CURVE server options: "} + e.what());
  }
}

caf::error apply_curve_client(zmq::socket_t& s, const curve_keys& keys) {
  try {
    s.set(zmq::sockopt::curve_serverkey, keys.server.public_key);
    s.set(zmq::sockopt::curve_publickey, keys.client.public_key);
    s.set(zmq::sockopt::curve_secretkey, keys.client.secret_key);
    return caf::none;
  } catch (const zmq::error_t& e) {
    return make_error(errc::backend_failure, std::string{"CURVE client options: "} + e.what());
  }
}

// -- ZAP handler ----------------------------------------------------------------

caf::expected<std::unique_ptr<zap_handler>>
zap_handler::start(zmq::context_t& ctx, const std::string& client_public_z85) {
  std::unique_ptr<zap_handler> h{new zap_handler};
  h->allowed_.resize(32);
  if (client_public_z85.size() != 40
      || zmq_z85_decode(reinterpret_cast<uint8_t*>(h->allowed_.data()),
                        client_public_z85.c_str())
           == nullptr)
    return make_error(errc::invalid_argument, "client public key is not 40 Z85 characters");
  try {
    h->zap_ = zmq::socket_t(ctx, zmq::socket_type::rep);
    h->zap_.set(zmq::sockopt::linger, 0); // answers are local; nothing to flush
    h->zap_.bind("inproc://zeromq.zap.01");
    auto stop_ep = "inproc://tandem.zap.stop." + std::to_string(reinterpret_cast<uintptr_t>(h.get()));
    h->stop_rx_ = zmq::socket_t(ctx, zmq::socket_type::pair);
    h->stop_rx_.bind(stop_ep);
    h->stop_tx_ = zmq::socket_t(ctx, zmq::socket_type::pair);
    h->stop_tx_.set(zmq::sockopt::linger, 0);
    h->stop_tx_.connect(stop_ep);
  } catch (const zmq::error_t& e) {
    return make_error(errc::io_failure, std::string{"ZAP handler: "} + e.what());
  }
  h->thread_ = std::thread([raw = h.get()] { raw->run(); });
  return h;
}

zap_handler::~zap_handler() {
  if (thread_.joinable()) {
    try {
      stop_tx_.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The thread still leaves within one poll interval (see run()).
    }
    thread_.join();
  }
}

zap_stats zap_handler::stats() const {
  return zap_stats{accepted_.load(), refused_.load()};
}

void zap_handler::run() {
  // The stop message wakes the poll at once; the 1 s bound is a backstop so
  // that no wait in tandem is unbounded.
  for (;;) {
    zmq::pollitem_t items[] = {{zap_.handle(), 0, ZMQ_POLLIN, 0},
                               {stop_rx_.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(1000));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR)
        continue;
      return; // ETERM: the context is shutting down
    }
    if (items[1].revents & ZMQ_POLLIN)
      return;
    if ((items[0].revents & ZMQ_POLLIN) && !answer_one())
      return;
  }
}

// ZAP 1.0 (RFC 27): request [version, request_id, domain, address, identity,
// mechanism, credentials...]; reply [version, request_id, status_code,
// status_text, user_id, metadata].
bool zap_handler::answer_one() {
  try {
    std::vector<zmq::message_t> req;
    if (!zmq::recv_multipart(zap_, std::back_inserter(req), zmq::recv_flags::dontwait))
      return true;
    bool ok = req.size() == 7 && req[0].to_string_view() == "1.0"
              && req[5].to_string_view() == "CURVE" && req[6].size() == 32
              && sodium_memcmp(req[6].data(), allowed_.data(), 32) == 0;
    (ok ? accepted_ : refused_).fetch_add(1);
    std::string request_id = req.size() > 1 ? req[1].to_string() : std::string{};
    std::array<zmq::const_buffer, 6> reply = {
      zmq::str_buffer("1.0"), zmq::buffer(request_id),
      ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
      ok ? zmq::str_buffer("OK") : zmq::str_buffer("unknown client key"),
      ok ? zmq::str_buffer("tandem") : zmq::str_buffer(""), zmq::str_buffer("")};
    zmq::send_multipart(zap_, reply);
    return true;
  } catch (const zmq::error_t&) {
    return false;
  }
}

caf::expected<std::string> keyed_mac(const std::string& secret, const std::string& message) {
  // Every run has a secret (run_secret.hpp): a MAC under a short or empty
  // key would prove nothing, so none is computed.
  if (secret.size() < min_secret_bytes)
    return make_error(errc::invalid_argument, "MAC key shorter than "
                                                + std::to_string(min_secret_bytes) + " bytes");
  if (sodium_init() < 0)
    return make_error(errc::backend_failure, "libsodium failed to initialise");
  unsigned char out[32];
  // crypto_generichash takes a key of 0..64 bytes; longer secrets are cut to
  // 64 bytes (512 bits, far beyond what the MAC needs).
  std::string key = secret.size() <= crypto_generichash_KEYBYTES_MAX
                      ? secret
                      : std::string(secret, 0, crypto_generichash_KEYBYTES_MAX);
  if (crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), reinterpret_cast<const unsigned char*>(key.data()),
                         key.size())
      != 0)
    return make_error(errc::backend_failure, "crypto_generichash failed");
  static const char* hex = "0123456789abcdef";
  std::string res;
  for (auto b : out) {
    res += hex[b >> 4];
    res += hex[b & 15];
  }
  return res;
}

bool macs_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size())
    return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_nonce() {
  if (sodium_init() < 0)
    return {};
  unsigned char buf[32];
  randombytes_buf(buf, sizeof(buf));
  static const char* hex = "0123456789abcdef";
  std::string res;
  for (auto b : buf) {
    res += hex[b >> 4];
    res += hex[b & 15];
  }
  return res;
}

} // namespace tandem::transport
