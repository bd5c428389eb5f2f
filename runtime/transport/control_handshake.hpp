// control_handshake.hpp: the mutual challenge-response that every connection
// to a head's control port passes before any of its bytes reaches the actor
// framework (docs/control-auth.md).
//
// Protocol (fixed-size frames, nothing sized by the peer):
//   client -> server  hello  = "TNDMCH01" | nonce_c (32)                 40 bytes
//   server -> client  hello  = "TNDMSH01" | nonce_s (32) | mac_s (32)    72 bytes
//   client -> server  proof  = mac_c (32)                                32 bytes
//   server -> client  accept = "TNDMOK01"                                 8 bytes
// mac_r = keyed BLAKE2b-256(k, "tandem/control/" r "/v1" | nonce_c | nonce_s)
// with k = keyed BLAKE2b-256(secret[:64], "tandem/control/key/v1") and r the
// sender's role. Both sides prove the secret over both nonces, each with its
// own role string: a proof cannot be replayed (fresh nonces) or reflected
// (the other role's string). The client checks the server's proof before it
// proves itself; the server sends `accept` only after checking the client's.
// After `accept` the connection belongs to the caller (CAF's BASP).
//
// States:  client: send_hello -> await_server_hello -> send_proof
//                  -> await_accept -> done
//          server: await_client_hello -> send_hello -> await_proof
//                  -> send_accept -> done
//          any state -> failed (wrong magic, wrong proof); failed and done
//          are final.
// The caller moves bytes: it sends pending_output() (then output_sent()),
// and feeds at most wanted() received bytes to consume(). Deadlines are the
// caller's (control_listener, connect_control).
//
// Thread safety: none; one object per connection, used by one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::transport {

enum class handshake_role { client, server };

/// 32 random bytes for a handshake nonce.
using handshake_nonce = std::array<uint8_t, 32>;

/// A fresh random nonce (libsodium's randombytes).
handshake_nonce random_handshake_nonce();

class control_handshake {
public:
  static constexpr size_t nonce_size = 32;
  static constexpr size_t mac_size = 32;
  static constexpr size_t magic_size = 8;
  static constexpr size_t client_hello_size = magic_size + nonce_size;
  static constexpr size_t server_hello_size = magic_size + nonce_size + mac_size;
  static constexpr size_t proof_size = mac_size;
  static constexpr size_t accept_size = magic_size;
  /// The largest frame either side ever receives or sends.
  static constexpr size_t max_frame = server_hello_size;

  enum class state {
    send_hello,
    await_client_hello,
    await_server_hello,
    send_proof,
    await_proof,
    send_accept,
    await_accept,
    done,
    failed,
  };

  /// `secret` may be empty (runs without one: no authentication, the same
  /// protocol). `nonce` is this side's challenge (tests pass fixed ones).
  control_handshake(handshake_role role, const std::string& secret, handshake_nonce nonce);
  ~control_handshake();

  control_handshake(const control_handshake&) = delete;
  control_handshake& operator=(const control_handshake&) = delete;

  state current() const { return state_; }
  bool done() const { return state_ == state::done; }
  bool failed() const { return state_ == state::failed; }

  /// Why the handshake failed ("" unless failed()).
  const std::string& failure() const { return failure_; }

  /// Bytes to send now: empty unless the state is send_*.
  std::basic_string_view<uint8_t> pending_output() const;

  /// The caller sent `n` bytes of pending_output().
  void output_sent(size_t n);

  /// How many more bytes the current await_* state needs (0 otherwise).
  size_t wanted() const;

  /// Feeds up to wanted() received bytes; more is a caller bug and fails
  /// the handshake.
  void consume(const uint8_t* data, size_t n);

private:
  void fail(const char* why);
  void on_frame();
  void build_output();
  std::array<uint8_t, mac_size> mac(const char* role_label) const;

  handshake_role role_;
  state state_;
  std::array<uint8_t, 32> key_{};
  handshake_nonce own_;
  handshake_nonce peer_{};
  std::array<uint8_t, max_frame> in_{};
  size_t in_len_ = 0;
  std::array<uint8_t, max_frame> out_{};
  size_t out_len_ = 0;
  size_t out_sent_ = 0;
  std::string failure_;
};

const char* to_string(control_handshake::state s);

} // namespace tandem::transport
