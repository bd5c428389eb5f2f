// learner_core_resume_test.cpp: a learner's saved state (export_state /
// import_state): weights plus state resume training bit for bit (the
// steered entropy bonus too, and an untrained learner's state); a state of
// another model shape, or a corrupted or truncated one, is refused and
// changes nothing; on CUDA builds the state moves between devices.

#include "models/learner_core.hpp"

#include <cmath>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;
using namespace tandem::test;

namespace {

// Fixed batches (the initial learner's log-probs as behaviour, varied
// advantages), the same for every learner that trains on them.
std::vector<std::vector<train_sequence>> fixed_batches(const learner_settings& s, size_t n) {
  auto l = make_learner(s);
  std::vector<std::vector<train_sequence>> out;
  for (size_t k = 0; k < n; ++k) {
    auto b = on_policy_batch(*l, s.model, 8);
    for (size_t i = 0; i < b.size(); ++i)
      b[i].advantage = std::sin(double(3 * k + i)); // differs per step and row
    out.push_back(std::move(b));
  }
  return out;
}

learner_settings resumable_settings() {
  auto s = tiny_learner_settings();
  s.mini_batches = 2;          // two versions per batch
  s.grpo.kl_beta = 0.05;       // the reference is rebuilt, not saved
  s.optimizer.weight_decay = 0.01;
  return s;
}

void train_all(learner_core& l, const std::vector<std::vector<train_sequence>>& batches,
               size_t lo, size_t hi) {
  for (size_t k = lo; k < hi; ++k) {
    auto r = l.train(batches[k]);
    ASSERT_TRUE(r) << describe(r.error());
  }
}

} // namespace

// The resume contract: weights (export_weights) + state (export_state) into a
// fresh learner of the same settings, and both go on bit for bit.
TEST(LearnerCore, ImportedStateResumesTrainingBitForBit) {
  const auto s = resumable_settings();
  const auto batches = fixed_batches(s, 5);
  auto a = make_learner(s);
  train_all(*a, batches, 0, 3);
  const auto weights = a->export_weights();
  const auto state = a->export_state();
  ASSERT_FALSE(state.empty());
  ASSERT_EQ(a->version(), 6);

  auto b = make_learner(s);
  ASSERT_FALSE(b->import_weights(weights.data(), weights.size(), 0));
  auto err = b->import_state(state.data(), state.size());
  ASSERT_FALSE(err) << describe(err);
  EXPECT_EQ(b->version(), 6);
  EXPECT_EQ(b->export_state(), state) << "a round trip changes nothing";

  // Without the optimizer state the same two steps go elsewhere, so the
  // comparison below is not trivially true.
  auto c = make_learner(s);
  ASSERT_FALSE(c->import_weights(weights.data(), weights.size(), 6));

  train_all(*a, batches, 3, 5);
  train_all(*b, batches, 3, 5);
  train_all(*c, batches, 3, 5);
  EXPECT_EQ(a->version(), 10);
  EXPECT_EQ(b->version(), a->version());
  EXPECT_TRUE(a->export_weights() == b->export_weights()) << "resumed weights differ";
  EXPECT_TRUE(a->export_state() == b->export_state()) << "resumed optimizer state differs";
  EXPECT_FALSE(a->export_weights() == c->export_weights())
    << "the optimizer state made no difference: the test shows nothing";
}

// A steered entropy bonus (learner.entropy_target) resumes too: its
// coefficient and last entropy travel in the state, so the resumed learner
// applies the same bonus; without them it would restart at no bonus.
TEST(LearnerCore, SteeredEntropyBonusResumesBitForBit) {
  auto s = resumable_settings();
  s.grpo.entropy_target = 100.0; // always below: the bonus grows every step
  s.grpo.entropy_coef_step = 0.05;
  s.grpo.entropy_coef_max = 1.0;
  const auto batches = fixed_batches(s, 4);
  auto a = make_learner(s);
  std::vector<double> coefs;
  for (size_t k = 0; k < 2; ++k) {
    auto r = a->train(batches[k]);
    ASSERT_TRUE(r) << describe(r.error());
    for (const auto& st : *r)
      coefs.push_back(st.entropy_coef);
  }
  // Two versions per batch: no bonus before the first measurement, then
  // one step more each time.
  ASSERT_EQ(coefs.size(), 4u);
  EXPECT_EQ(coefs[0], 0.0);
  EXPECT_NEAR(coefs[1], 0.05, 1e-15);
  EXPECT_NEAR(coefs[3], 0.15, 1e-15);
  const auto weights = a->export_weights();
  const auto state = a->export_state();
  auto b = make_learner(s);
  ASSERT_FALSE(b->import_weights(weights.data(), weights.size(), 0));
  ASSERT_FALSE(b->import_state(state.data(), state.size()));
  auto ra = a->train(batches[2]);
  auto rb = b->train(batches[2]);
  ASSERT_TRUE(ra && rb);
  // A learner that forgot the control would apply no bonus here (0).
  EXPECT_NEAR(rb->front().entropy_coef, 0.2, 1e-15);
  EXPECT_EQ(ra->front().entropy_coef, rb->front().entropy_coef);
  EXPECT_TRUE(a->export_weights() == b->export_weights()) << "resumed weights differ";
  EXPECT_TRUE(a->export_state() == b->export_state()) << "resumed state differs";
}

// Before any step AdamW holds nothing; the state says step 0 and zero
// moments, which is what AdamW starts from, so it resumes exactly too.
TEST(LearnerCore, StateOfAnUntrainedLearnerResumesExactly) {
  const auto s = resumable_settings();
  const auto batches = fixed_batches(s, 1);
  auto a = make_learner(s);
  const auto state = a->export_state();
  auto b = make_learner(s);
  ASSERT_FALSE(b->import_state(state.data(), state.size()));
  train_all(*a, batches, 0, 1);
  train_all(*b, batches, 0, 1);
  EXPECT_TRUE(a->export_weights() == b->export_weights());
  EXPECT_EQ(b->version(), 2);
}

TEST(LearnerCore, StateOfAnotherModelShapeIsRefusedNamingTheTensor) {
  auto s = resumable_settings();
  const auto batches = fixed_batches(s, 1);
  auto a = make_learner(s);
  train_all(*a, batches, 0, 1);
  const auto state = a->export_state();

  auto narrow = s;
  narrow.model.intermediate_size = 128; // first differs at layers.0.mlp.*
  auto b = make_learner(narrow);
  const auto before = b->export_state();
  auto err = b->import_state(state.data(), state.size());
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_NE(describe(err).find("layers.0.mlp."), std::string::npos) << describe(err);
  EXPECT_NE(describe(err).find("adamw.exp_avg'"), std::string::npos) << describe(err);
  EXPECT_EQ(b->export_state(), before) << "a refused state changed the learner";
  EXPECT_EQ(b->version(), 0);

  auto deeper = s;
  deeper.model.num_layers = 3;
  auto d = make_learner(deeper);
  err = d->import_state(state.data(), state.size());
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_NE(describe(err).find("'layers.2."), std::string::npos) << describe(err);
}

TEST(LearnerCore, CorruptedOrTruncatedStateIsRefusedCleanly) {
  const auto s = resumable_settings();
  const auto batches = fixed_batches(s, 1);
  auto a = make_learner(s);
  train_all(*a, batches, 0, 1);
  const auto state = a->export_state();
  auto b = make_learner(s);
  const auto before = b->export_state();
  auto refused = [&](std::vector<char> blob, const std::string& why) {
    auto err = b->import_state(blob.data(), blob.size());
    EXPECT_TRUE(is(err, errc::malformed_message)) << why << ": " << describe(err);
    EXPECT_NE(describe(err).find(why), std::string::npos) << describe(err);
  };
  auto flipped = state;
  flipped[flipped.size() / 2] ^= 0x10;
  refused(flipped, "checksum");
  refused({state.begin(), state.end() - 1}, "truncated");
  refused({state.begin(), state.begin() + 20}, "truncated");
  refused({}, "truncated");
  auto longer = state;
  longer.push_back(0);
  refused(longer, "trailing bytes");
  auto foreign = state;
  foreign[0] = 'X';
  refused(foreign, "bad magic");
  EXPECT_TRUE(b->import_state(nullptr, 0));
  EXPECT_EQ(b->export_state(), before);
  EXPECT_EQ(b->version(), 0);
}

#ifdef TANDEM_WITH_CUDA
// A state moves between devices: saved on CUDA, installed on the CPU (and
// back), it holds the same bytes.
TEST(LearnerCore, StateMovesBetweenCudaAndCpu) {
  auto s = resumable_settings();
  s.device = "cuda";
  if (learner_core::validate(s))
    GTEST_SKIP() << "no CUDA device";
  const auto batches = fixed_batches(resumable_settings(), 2);
  auto gpu = make_learner(s);
  train_all(*gpu, batches, 0, 2);
  const auto state = gpu->export_state();
  auto cpu = make_learner(resumable_settings());
  ASSERT_FALSE(cpu->import_state(state.data(), state.size()));
  EXPECT_EQ(cpu->export_state(), state);
  auto back = make_learner(s);
  ASSERT_FALSE(back->import_state(state.data(), state.size()));
  EXPECT_EQ(back->export_state(), state);
  EXPECT_EQ(back->version(), 4);
  train_all(*back, batches, 0, 1); // and trains on from there
  EXPECT_EQ(back->version(), 6);
}
#endif
