// fuzz_gate: a fuzz-driven sequence of join requests and proofs against the
// gate's join_ledger (actors/internal/join_ledger.hpp), the logic the gate
// actor runs on every message from an unauthenticated peer. Names, nonces
// and MACs are arbitrary bytes; some proofs are computed with the right or a
// wrong secret; time moves forward by fuzz-chosen steps. Checked: the ledger
// stays within max_pending, an admission needs the right secret and a
// challenge issued to that name and not used before, within its deadline.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "actors/internal/join_ledger.hpp"

namespace {

// The proof under `secret`, or "" when there is none (a key shorter than
// transport::min_secret_bytes is refused, so a ledger holding one admits no
// one).
std::string proof_or_empty(const std::string& secret, const std::string& nonce,
                           const std::string& name) {
  auto p = tandem::join_proof(secret, nonce, name);
  return p ? *p : std::string{};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const char* const secrets[] = {"", "too-short", "the-run-secret-0123456789"};
  const std::string secret = secrets[in.ConsumeIntegralInRange<int>(0, 2)];
  const auto max_pending = in.ConsumeIntegralInRange<size_t>(0, 8);
  const auto ttl = std::chrono::seconds{in.ConsumeIntegralInRange<int>(0, 30)};
  tandem::join_ledger ledger{secret, max_pending, ttl};
  tandem::join_ledger::time_point now{};
  // (name, nonce) -> challenges issued and not yet admitted (a real gate
  // never issues the same random nonce twice; the fuzzer may).
  std::map<std::pair<std::string, std::string>, int> open;
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: {
        auto name = in.ConsumeRandomLengthString(64);
        auto nonce = in.ConsumeRandomLengthString(64);
        ledger.issue(name, nonce, now);
        ++open[{name, nonce}];
        break;
      }
      case 1: {
        auto name = in.ConsumeRandomLengthString(64);
        auto nonce = in.ConsumeRandomLengthString(64);
        std::string mac;
        bool right_secret = false;
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
          case 0: mac = in.ConsumeRandomLengthString(160); break;
          case 1: right_secret = true; mac = proof_or_empty(secret, nonce, name); break;
          default: mac = proof_or_empty(secret + "-other-key-0123456789", nonce, name); break;
        }
        auto v = ledger.verify(name, nonce, mac, now);
        (void) tandem::to_string(v);
        if (v == tandem::join_ledger::verdict::admitted) {
          const auto proof = proof_or_empty(secret, nonce, name);
          if (proof.empty())
            std::abort(); // admitted although the ledger's key makes no proof
          if (!right_secret && mac != proof)
            std::abort(); // admitted without the secret's proof
          if (open[{name, nonce}]-- <= 0)
            std::abort(); // admitted more often than its challenge was issued
        }
        break;
      }
      case 2: now += std::chrono::milliseconds{in.ConsumeIntegralInRange<int>(0, 40000)}; break;
      default: (void) tandem::join_proof(in.ConsumeRandomLengthString(64),
                                         in.ConsumeRandomLengthString(64),
                                         in.ConsumeRandomLengthString(64));
    }
    if (ledger.pending() > std::max<size_t>(max_pending, 1))
      std::abort(); // the ledger outgrew its bound
  }
  return 0;
}
