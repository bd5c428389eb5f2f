// The head's gate: only a peer that proves it holds the shared secret gets the
// controller's handle (stepped on CAF's test coordinator).
#include "actor_test_fixture.hpp"

#include "actors/gate.hpp"
#include "runtime/error.hpp"

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;

// Runs the two-step join against the gate and keeps what came back.
struct joiner_state {
  std::vector<std::string> nonces;
  std::vector<caf::actor> handles;
  std::vector<caf::error> errors;
};
caf::behavior joiner(caf::stateful_actor<joiner_state>* self, caf::actor gate) {
  return {
    [=](join_atom, const std::string& name) {
      self->request(gate, 5s, join_atom::value, name)
        .then([=](std::string& n) { self->state.nonces.push_back(n); },
              [=](caf::error& e) { self->state.errors.push_back(e); });
    },
    [=](join_atom, const std::string& name, const std::string& nonce, const std::string& mac) {
      self->request(gate, 5s, join_atom::value, name, nonce, mac)
        .then([=](caf::actor& a) { self->state.handles.push_back(a); },
              [=](caf::error& e) { self->state.errors.push_back(e); });
    },
  };
}

struct GateTest : ActorTest {
  caf::actor controller = spawn_probe();
  caf::actor gate = spawn(gate_actor, gate_settings{"the-shared-secret-123", controller, 4, 30s});
  caf::actor peer = spawn(joiner, gate);
  joiner_state& st() { return state<joiner_state>(peer); }

  std::string challenge(const std::string& name) {
    caf::anon_send(peer, join_atom::value, name);
    run();
    return st().nonces.back();
  }
  void answer(const std::string& name, const std::string& nonce, const std::string& secret) {
    caf::anon_send(peer, join_atom::value, name, nonce, *join_proof(secret, nonce, name));
    run();
  }
};

TEST_F(GateTest, PeerWithTheSecretGetsTheController) {
  answer("w", challenge("w"), "the-shared-secret-123");
  ASSERT_EQ(st().handles.size(), 1u);
  EXPECT_EQ(st().handles[0], controller);
}

TEST_F(GateTest, WrongSecretIsRefusedAndLearnsNothing) {
  answer("w", challenge("w"), "a-different-secret-456");
  EXPECT_TRUE(st().handles.empty());
  ASSERT_EQ(st().errors.size(), 1u);
  EXPECT_TRUE(is(st().errors[0], errc::peer_down));
  EXPECT_EQ(state<gate_state>(gate).refused, 1u);
}

// Every run has a secret; a MAC under an empty key (what loopback runs once
// used) is never computed, and a gate given none admits nobody.
TEST_F(GateTest, AGateWithoutARealSecretAdmitsNobody) {
  auto keyless = spawn(gate_actor, gate_settings{"", controller, 4, 30s});
  auto p = spawn(joiner, keyless);
  caf::anon_send(p, join_atom::value, std::string{"w"});
  run();
  auto& js = state<joiner_state>(p);
  ASSERT_EQ(js.nonces.size(), 1u);
  EXPECT_FALSE(join_proof("", js.nonces[0], "w"));
  caf::anon_send(p, join_atom::value, std::string{"w"}, js.nonces[0], std::string(64, '0'));
  run();
  EXPECT_TRUE(js.handles.empty());
  EXPECT_EQ(js.errors.size(), 1u);
}

TEST_F(GateTest, ANonceIsGoodForOneAttemptOnly) {
  auto nonce = challenge("w");
  answer("w", nonce, "wrong-secret-0000000");
  answer("w", nonce, "the-shared-secret-123"); // replay with the right secret
  EXPECT_TRUE(st().handles.empty());
  EXPECT_EQ(st().errors.size(), 2u);
}

TEST_F(GateTest, ExpiredChallengeIsRefused) {
  auto nonce = challenge("w");
  advance_time(31s);
  answer("w", nonce, "the-shared-secret-123");
  EXPECT_TRUE(st().handles.empty());
}

TEST_F(GateTest, ProofIsBoundToTheName) {
  auto nonce = challenge("w");
  caf::anon_send(peer, join_atom::value, std::string{"other"}, nonce,
                 *join_proof("the-shared-secret-123", nonce, "w"));
  run();
  EXPECT_TRUE(st().handles.empty());
}

TEST_F(GateTest, PendingChallengesAreBounded) {
  for (int i = 0; i < 10; ++i)
    challenge("flood" + std::to_string(i));
  EXPECT_EQ(state<gate_state>(gate).ledger.pending(), 4u);
}

TEST_F(GateTest, AnyOtherMessageIsDroppedAndTheGateKeepsWorking) {
  caf::anon_send(gate, std::string{"garbage"}, 42);
  caf::anon_send(gate, train_batch{});
  run();
  EXPECT_EQ(state<gate_state>(gate).refused, 2u);
  answer("w", challenge("w"), "the-shared-secret-123");
  EXPECT_EQ(st().handles.size(), 1u);
}

} // namespace
} // namespace tandem::testing
