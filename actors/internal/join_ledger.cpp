#include "actors/internal/join_ledger.hpp"

#include <algorithm>
#include <utility>

#include "runtime/transport/auth.hpp"

namespace tandem {

caf::expected<std::string> join_proof(const std::string& secret, const std::string& nonce,
                                      const std::string& name) {
  return transport::keyed_mac(secret, "tandem-join|" + nonce + "|" + name);
}

join_ledger::join_ledger(std::string secret, size_t max_pending, caf::timespan nonce_ttl)
  : secret_(std::move(secret)),
    max_pending_(std::max<size_t>(max_pending, 1)),
    nonce_ttl_(nonce_ttl) {
  // nop
}

void join_ledger::issue(const std::string& name, const std::string& nonce, time_point now) {
  while (pending_.size() >= max_pending_)
    pending_.pop_front();
  pending_.push_back({nonce, name, now + nonce_ttl_});
}

join_ledger::verdict join_ledger::verify(const std::string& name, const std::string& nonce,
                                         const std::string& mac, time_point now) {
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const challenge& c) {
    return c.nonce == nonce && c.name == name;
  });
  if (it == pending_.end())
    return verdict::unknown_challenge;
  const bool fresh = it->expires >= now;
  pending_.erase(it); // one attempt per challenge
  if (!fresh)
    return verdict::expired;
  auto expected = join_proof(secret_, nonce, name);
  if (!expected || !transport::macs_equal(*expected, mac))
    return verdict::wrong_proof;
  return verdict::admitted;
}

const char* to_string(join_ledger::verdict v) {
  switch (v) {
    case join_ledger::verdict::admitted: return "admitted";
    case join_ledger::verdict::unknown_challenge: return "unknown challenge";
    case join_ledger::verdict::expired: return "challenge expired";
    case join_ledger::verdict::wrong_proof: return "wrong proof (secret mismatch)";
  }
  return "?";
}

} // namespace tandem
