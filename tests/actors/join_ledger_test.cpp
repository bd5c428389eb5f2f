// join_ledger_test: the gate's challenge bookkeeping without an actor system.
#include "actors/internal/join_ledger.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace tandem {
namespace {

using namespace std::chrono_literals;
using verdict = join_ledger::verdict;

// Keys of the minimum accepted length and more (runtime/transport/auth.hpp).
const std::string key = "s3cret-0123456789abcdef";
const std::string other_key = "other-0123456789abcdef";

std::string proof(const std::string& secret, const std::string& nonce, const std::string& name) {
  auto mac = join_proof(secret, nonce, name);
  EXPECT_TRUE(mac);
  return mac ? *mac : std::string{};
}

TEST(JoinLedger, AdmitsTheRightProofOnceWithinItsDeadline) {
  join_ledger ledger{key, 4, 30s};
  join_ledger::time_point t0{};
  ledger.issue("w1", "n1", t0);
  EXPECT_EQ(ledger.verify("w1", "n1", proof(key, "n1", "w1"), t0 + 30s), verdict::admitted);
  EXPECT_EQ(ledger.verify("w1", "n1", proof(key, "n1", "w1"), t0 + 30s),
            verdict::unknown_challenge);
}

TEST(JoinLedger, RefusesAWrongSecretAnotherNameAndALateProof) {
  join_ledger ledger{key, 4, 30s};
  join_ledger::time_point t0{};
  ledger.issue("w1", "n1", t0);
  ledger.issue("w1", "n2", t0);
  EXPECT_EQ(ledger.verify("w2", "n1", proof(key, "n1", "w2"), t0), verdict::unknown_challenge);
  EXPECT_EQ(ledger.verify("w1", "n1", proof(other_key, "n1", "w1"), t0), verdict::wrong_proof);
  EXPECT_EQ(ledger.verify("w1", "n2", proof(key, "n2", "w1"), t0 + 31s), verdict::expired);
  EXPECT_EQ(ledger.pending(), 0u); // every attempt consumed its challenge
}

TEST(JoinLedger, ForgetsTheOldestChallengeWhenFull) {
  join_ledger ledger{key, 2, 30s};
  join_ledger::time_point t0{};
  ledger.issue("w", "a", t0);
  ledger.issue("w", "b", t0);
  ledger.issue("w", "c", t0);
  EXPECT_EQ(ledger.pending(), 2u);
  EXPECT_EQ(ledger.verify("w", "a", proof(key, "a", "w"), t0), verdict::unknown_challenge);
  EXPECT_EQ(ledger.verify("w", "c", proof(key, "c", "w"), t0), verdict::admitted);
}

// A key the MAC refuses (shorter than 16 bytes: every run has a real secret)
// makes no proof, so such a ledger admits no one.
TEST(JoinLedger, AShortKeyAdmitsNoOne) {
  for (const std::string weak : {"", "s3cret"}) {
    join_ledger ledger{weak, 4, 30s};
    join_ledger::time_point t0{};
    ledger.issue("w", "a", t0);
    EXPECT_FALSE(join_proof(weak, "a", "w"));
    EXPECT_NE(ledger.verify("w", "a", "", t0), verdict::admitted);
  }
}

// A bound of 0 used to spin popping an empty deque (undefined behaviour);
// it now means "keep one".
TEST(JoinLedger, ABoundOfZeroKeepsOneChallenge) {
  join_ledger ledger{key, 0, 30s};
  join_ledger::time_point t0{};
  ledger.issue("w", "a", t0);
  ledger.issue("w", "b", t0);
  EXPECT_EQ(ledger.pending(), 1u);
  EXPECT_EQ(ledger.verify("w", "b", proof(key, "b", "w"), t0), verdict::admitted);
}

} // namespace
} // namespace tandem
