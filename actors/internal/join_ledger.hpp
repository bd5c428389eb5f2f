// join_ledger.hpp: the gate's bookkeeping of join challenges (actors/gate.hpp),
// without an actor system: it records the one-time nonces the gate hands out
// and checks the proof a peer sends back.
//
// A challenge is (nonce, name, expiry). At most `max_pending` are kept; the
// oldest is forgotten first, so a flood of join requests cannot grow memory.
// verify() consumes the challenge it matches, whatever the verdict (one
// attempt per nonce). The time is passed in by the caller (the gate's clock).
//
// Thread safety: one thread at a time (the gate actor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include <caf/actor_clock.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

namespace tandem {

/// The MAC a joining peer sends: keyed BLAKE2b(secret, "tandem-join|" + nonce
/// + "|" + name), hex (shared by the gate and the peers).
caf::expected<std::string> join_proof(const std::string& secret, const std::string& nonce,
                                      const std::string& name);

class join_ledger {
public:
  using time_point = caf::actor_clock::time_point;

  enum class verdict : uint8_t { admitted, unknown_challenge, expired, wrong_proof };

  join_ledger() = default;
  join_ledger(std::string secret, size_t max_pending, caf::timespan nonce_ttl);

  /// Records the challenge `nonce` issued to `name` at `now`.
  void issue(const std::string& name, const std::string& nonce, time_point now);

  /// Checks `mac` for the challenge (`name`, `nonce`) at `now` and consumes it.
  verdict verify(const std::string& name, const std::string& nonce, const std::string& mac,
                 time_point now);

  /// Challenges outstanding (at most max_pending).
  size_t pending() const { return pending_.size(); }

private:
  struct challenge {
    std::string nonce;
    std::string name;
    time_point expires;
  };
  std::string secret_;
  size_t max_pending_ = 1024;
  caf::timespan nonce_ttl_ = caf::timespan{0};
  std::deque<challenge> pending_; // bounded by max_pending_ (see the top)
};

/// "admitted", "unknown challenge", "challenge expired", "wrong proof ...".
const char* to_string(join_ledger::verdict v);

} // namespace tandem
