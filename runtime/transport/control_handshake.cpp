#include "runtime/transport/control_handshake.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

namespace tandem::transport {

namespace {

constexpr char client_magic[] = "TNDMCH01";
constexpr char server_magic[] = "TNDMSH01";
constexpr char accept_magic[] = "TNDMOK01";
constexpr char key_context[] = "tandem/control/key/v1";
constexpr char client_label[] = "tandem/control/client/v1";
constexpr char server_label[] = "tandem/control/server/v1";

bool has_magic(const uint8_t* p, const char* magic) {
  return std::memcmp(p, magic, control_handshake::magic_size) == 0;
}

} // namespace

handshake_nonce random_handshake_nonce() {
  handshake_nonce n{};
  if (sodium_init() < 0)
    std::abort(); // libsodium unusable: no safe nonce can be made
  randombytes_buf(n.data(), n.size());
  return n;
}

control_handshake::control_handshake(handshake_role role, const std::string& secret,
                                     handshake_nonce nonce)
  : role_(role),
    state_(role == handshake_role::client ? state::send_hello : state::await_client_hello),
    own_(nonce) {
  if (sodium_init() < 0) {
    fail("libsodium failed to initialise");
    return;
  }
  // crypto_generichash takes keys of 0..64 bytes; longer secrets are cut to
  // 64 bytes, as the gate's MAC does (runtime/transport/auth.cpp).
  auto key_len = std::min(secret.size(), size_t{crypto_generichash_KEYBYTES_MAX});
  crypto_generichash(key_.data(), key_.size(), reinterpret_cast<const uint8_t*>(key_context),
                     sizeof(key_context) - 1, reinterpret_cast<const uint8_t*>(secret.data()),
                     key_len);
  if (role_ == handshake_role::client)
    build_output();
}

control_handshake::~control_handshake() {
  sodium_memzero(key_.data(), key_.size());
}

std::array<uint8_t, control_handshake::mac_size>
control_handshake::mac(const char* role_label) const {
  const auto& nonce_c = role_ == handshake_role::client ? own_ : peer_;
  const auto& nonce_s = role_ == handshake_role::client ? peer_ : own_;
  std::array<uint8_t, mac_size> out{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, key_.data(), key_.size(), out.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(role_label),
                            std::strlen(role_label));
  crypto_generichash_update(&st, nonce_c.data(), nonce_c.size());
  crypto_generichash_update(&st, nonce_s.data(), nonce_s.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

void control_handshake::fail(const char* why) {
  state_ = state::failed;
  failure_ = why;
  out_len_ = out_sent_ = 0;
}

void control_handshake::build_output() {
  out_sent_ = 0;
  auto put = [this](const void* p, size_t n) {
    std::memcpy(out_.data() + out_len_, p, n);
    out_len_ += n;
  };
  out_len_ = 0;
  switch (state_) {
    case state::send_hello:
      if (role_ == handshake_role::client) {
        put(client_magic, magic_size);
        put(own_.data(), own_.size());
      } else {
        put(server_magic, magic_size);
        put(own_.data(), own_.size());
        auto m = mac(server_label);
        put(m.data(), m.size());
      }
      break;
    case state::send_proof: {
      auto m = mac(client_label);
      put(m.data(), m.size());
      break;
    }
    case state::send_accept:
      put(accept_magic, magic_size);
      break;
    default:
      break;
  }
}

std::basic_string_view<uint8_t> control_handshake::pending_output() const {
  return {out_.data() + out_sent_, out_len_ - out_sent_};
}

void control_handshake::output_sent(size_t n) {
  out_sent_ += std::min(n, out_len_ - out_sent_);
  if (out_sent_ < out_len_ || out_len_ == 0)
    return;
  out_len_ = out_sent_ = 0;
  switch (state_) {
    case state::send_hello:
      state_ = role_ == handshake_role::client ? state::await_server_hello : state::await_proof;
      break;
    case state::send_proof:
      state_ = state::await_accept;
      break;
    case state::send_accept:
      state_ = state::done;
      break;
    default:
      break;
  }
}

size_t control_handshake::wanted() const {
  size_t frame = 0;
  switch (state_) {
    case state::await_client_hello:
      frame = client_hello_size;
      break;
    case state::await_server_hello:
      frame = server_hello_size;
      break;
    case state::await_proof:
      frame = proof_size;
      break;
    case state::await_accept:
      frame = accept_size;
      break;
    default:
      return 0;
  }
  return frame - in_len_;
}

void control_handshake::consume(const uint8_t* data, size_t n) {
  if (n == 0)
    return;
  if (n > wanted()) {
    fail("more bytes than the handshake expects");
    return;
  }
  std::memcpy(in_.data() + in_len_, data, n);
  in_len_ += n;
  if (wanted() == 0)
    on_frame();
}

void control_handshake::on_frame() {
  const uint8_t* p = in_.data();
  in_len_ = 0;
  switch (state_) {
    case state::await_client_hello:
      if (!has_magic(p, client_magic))
        return fail("the peer does not speak tandem's control handshake");
      std::memcpy(peer_.data(), p + magic_size, nonce_size);
      state_ = state::send_hello;
      break;
    case state::await_server_hello: {
      if (!has_magic(p, server_magic))
        return fail("the peer does not speak tandem's control handshake");
      std::memcpy(peer_.data(), p + magic_size, nonce_size);
      auto expected = mac(server_label);
      if (sodium_memcmp(expected.data(), p + magic_size + nonce_size, mac_size) != 0)
        return fail("the head does not hold the run's secret (or ours differs)");
      state_ = state::send_proof;
      break;
    }
    case state::await_proof: {
      auto expected = mac(client_label);
      if (sodium_memcmp(expected.data(), p, mac_size) != 0)
        return fail("the peer does not hold the run's secret");
      state_ = state::send_accept;
      break;
    }
    case state::await_accept:
      if (!has_magic(p, accept_magic))
        return fail("the head refused our proof of the run's secret");
      state_ = state::done;
      return;
    default:
      return;
  }
  build_output();
}

const char* to_string(control_handshake::state s) {
  switch (s) {
    case control_handshake::state::send_hello: return "send_hello";
    case control_handshake::state::await_client_hello: return "await_client_hello";
    case control_handshake::state::await_server_hello: return "await_server_hello";
    case control_handshake::state::send_proof: return "send_proof";
    case control_handshake::state::await_proof: return "await_proof";
    case control_handshake::state::send_accept: return "send_accept";
    case control_handshake::state::await_accept: return "await_accept";
    case control_handshake::state::done: return "done";
    case control_handshake::state::failed: return "failed";
  }
  return "?";
}

} // namespace tandem::transport
