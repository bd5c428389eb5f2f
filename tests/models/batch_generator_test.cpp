// batch_generator_test: the continuous-batching device sampler (on CPU here,
// float32) against the policy it copies: every recorded log-prob must equal
// the learner-side recomputation (policy::score), rows must be refilled as
// sequences finish, and weight syncs must take effect between steps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <gtest/gtest.h>

#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "tests/support/tiny_model.hpp"

namespace tandem {
namespace {

model_config tiny() { return test::tiny_decoder_model(); }

std::vector<std::vector<int32_t>> prompts() {
  return {{1, 5, 7}, {2, 9}, {3, 4, 5, 6, 7}, {8}, {10, 11, 12, 13}, {14, 15}, {16, 17, 18}};
}

// One sampling seed per prompt, as the sampler derives them for a group.
std::vector<uint64_t> seeds_for(size_t n, uint64_t group_seed) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(completion_seed(group_seed, static_cast<int32_t>(i)));
  return out;
}

// The nucleus of the next-token distribution after `prompt` for a top_p near
// `target`: tokens in order of probability, each kept while the mass of the
// ones before it is below top_p. `top_p` is set halfway between the mass
// before the last kept token and the mass before the first dropped one, so
// float rounding cannot move a token across the edge; `dist` receives the
// whole distribution's log-probs.
std::set<int32_t> nucleus_after(policy& pol, const std::vector<int32_t>& prompt, double target,
                                double* top_p, std::vector<float>* dist) {
  std::vector<scored_input> alts;
  for (int32_t t = 0; t < tiny().vocab_size; ++t)
    alts.push_back({prompt, {t}});
  auto s = pol.score(alts, 1.0);
  EXPECT_TRUE(s);
  dist->clear();
  for (auto& row : *s)
    dist->push_back(row[0]);
  std::vector<int32_t> order(dist->size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return (*dist)[a] > (*dist)[b]; });
  std::set<int32_t> out;
  double before = 0, last_before = 0;
  for (auto t : order) {
    if (before >= target)
      break;
    out.insert(t);
    last_before = before;
    before += std::exp(double((*dist)[t]));
  }
  *top_p = (last_before + before) / 2;
  return out;
}

TEST(BatchGenerator, RecordedLogprobsEqualTheLearnerRecomputation) {
  auto pol = policy::make(tiny(), 3);
  ASSERT_TRUE(pol);
  device_options o;
  o.max_rows = 3; // fewer rows than prompts: finished rows are refilled
  auto gen = batch_generator::make(**pol, o);
  ASSERT_TRUE(gen) << describe(gen.error());
  sampling_params sp;
  sp.max_new_tokens = 8;
  sp.stop_tokens = {0, 1};
  ASSERT_FALSE((*gen)->start(prompts(), sp, seeds_for(7, 42)));
  int steps = 0;
  while (!(*gen)->done() && steps < 100) {
    ASSERT_FALSE((*gen)->step(7));
    ++steps;
  }
  ASSERT_TRUE((*gen)->done());
  auto res = (*gen)->take_results();
  ASSERT_EQ(res.size(), 7u);
  std::vector<scored_input> batch;
  int64_t total = 0;
  for (size_t i = 0; i < res.size(); ++i) {
    ASSERT_FALSE(res[i].tokens.empty());
    ASSERT_LE(res[i].tokens.size(), 8u);
    EXPECT_EQ(res[i].versions, std::vector<int64_t>(res[i].tokens.size(), 7));
    batch.push_back({prompts()[i], res[i].tokens});
    total += static_cast<int64_t>(res[i].tokens.size());
  }
  EXPECT_EQ((*gen)->tokens_generated(), total);
  // 7 prompts on 3 rows need more steps than the longest completion.
  EXPECT_GT(steps, 8);
  auto scored = (*pol)->score(batch, sp.temperature);
  ASSERT_TRUE(scored);
  for (size_t i = 0; i < res.size(); ++i)
    for (size_t t = 0; t < res[i].tokens.size(); ++t)
      EXPECT_NEAR(res[i].logprobs[t], (*scored)[i][t], 2e-5) << "sequence " << i << " token " << t;
}

// stop_after ends a sequence as finished, in the device generator and in the
// CPU decode session alike.
TEST(BatchGenerator, StopAfterEndsSequencesLikeAStopToken) {
  auto pol = policy::make(tiny(), 3);
  ASSERT_TRUE(pol);
  sampling_params sp;
  sp.max_new_tokens = 8;
  // Ends a completion at its first even token after the first one.
  sp.stop_after = [](const std::vector<int32_t>& c) { return c.size() >= 2 && c.back() % 2 == 0; };
  auto check = [&](const std::vector<generated_sequence>& res) {
    for (auto& r : res) {
      bool fired = r.tokens.size() >= 2 && r.tokens.back() % 2 == 0;
      EXPECT_EQ(r.finished, fired);
      for (size_t t = 1; t + 1 < r.tokens.size(); ++t)
        EXPECT_NE(r.tokens[t] % 2, 0) << "generation went on after the check fired";
      if (!fired) {
        EXPECT_EQ(r.tokens.size(), 8u);
      }
    }
  };
  device_options o;
  o.max_rows = 3;
  auto gen = batch_generator::make(**pol, o);
  ASSERT_TRUE(gen);
  ASSERT_FALSE((*gen)->start(prompts(), sp, seeds_for(7, 5)));
  while (!(*gen)->done())
    ASSERT_FALSE((*gen)->step(0));
  check((*gen)->take_results());
  auto session = decode_session::start(**pol, prompts(), sp, seeds_for(7, 5));
  ASSERT_TRUE(session);
  while (!(*session)->done())
    ASSERT_FALSE((*session)->step(0));
  check((*session)->take_results());
}

// Tokens by descending log-prob; `k` is chosen in 2..8 where the k-th and
// (k+1)-th log-probs are furthest apart, so float rounding cannot swap them
// across the top-k edge. With `target` > 0, the top-k tokens are cut again
// by top-p on their renormalised mass (temperature -> top-k -> top-p); the
// top_p returned lies halfway between the masses before the last kept and
// the first dropped token.
struct top_k_case {
  int32_t k = 0;
  double top_p = 1.0;
  std::set<int32_t> keep;
};

top_k_case top_k_of(const std::vector<float>& dist, double target) {
  std::vector<int32_t> order(dist.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return dist[a] > dist[b]; });
  top_k_case c;
  float best_gap = -1;
  for (int32_t k = 2; k <= 8; ++k) {
    const float gap = dist[order[k - 1]] - dist[order[k]];
    if (gap > best_gap) {
      best_gap = gap;
      c.k = k;
    }
  }
  EXPECT_GT(best_gap, 1e-4f);
  double total = 0;
  for (int32_t i = 0; i < c.k; ++i)
    total += std::exp(double(dist[order[i]]));
  double before = 0, last_before = 0;
  for (int32_t i = 0; i < c.k; ++i) {
    if (target > 0 && before >= target)
      break;
    c.keep.insert(order[i]);
    last_before = before;
    before += std::exp(double(dist[order[i]])) / total;
  }
  if (target > 0)
    c.top_p = (last_before + before) / 2;
  return c;
}

// top_k (alone, and followed by top_p on what it kept): 1024 draws of the
// token after one prompt all lie in the kept set and cover it; each records
// its log-prob under the full distribution, as with top-p (what the learner
// recomputes; README "Config reference", sampler.top_k).
TEST(BatchGenerator, TopKSamplesOnlyTheKMostProbableTokens) {
  auto pol = policy::make(tiny(), 6);
  ASSERT_TRUE(pol);
  const std::vector<int32_t> prompt{4, 9, 2};
  std::vector<float> dist;
  double unused = 0;
  nucleus_after(**pol, prompt, 1.0, &unused, &dist);
  for (double target : {0.0, 0.6}) {
    const auto c = top_k_of(dist, target);
    ASSERT_GT(c.keep.size(), 1u);
    device_options o;
    o.max_rows = 1024;
    auto gen = batch_generator::make(**pol, o);
    ASSERT_TRUE(gen);
    sampling_params sp;
    sp.top_k = c.k;
    sp.top_p = c.top_p;
    sp.max_new_tokens = 1;
    ASSERT_FALSE((*gen)->start(std::vector<std::vector<int32_t>>(1024, prompt), sp,
                               seeds_for(1024, 23)));
    while (!(*gen)->done())
      ASSERT_FALSE((*gen)->step(0));
    std::set<int32_t> seen;
    for (auto& r : (*gen)->take_results()) {
      ASSERT_EQ(r.tokens.size(), 1u);
      const auto t = r.tokens[0];
      EXPECT_EQ(c.keep.count(t), 1u) << "top_k " << c.k << " top_p " << c.top_p << ": token "
                                      << t << " is outside the " << c.keep.size() << " kept";
      EXPECT_NEAR(r.logprobs[0], dist[t], 2e-5);
      seen.insert(t);
    }
    EXPECT_EQ(seen, c.keep) << "top_k " << c.k << " top_p " << c.top_p;
  }
}

// The same on a GPU (skipped without one): the device's top-k keeps the
// tokens the CPU policy ranks highest (k where the gap is widest, so the
// device's rounding cannot swap the edge).
TEST(BatchGenerator, TopKOnCudaSamplesOnlyTheKMostProbableTokens) {
  device_options o;
  o.device = "cuda";
  o.max_rows = 1024;
  if (check_device(o))
    GTEST_SKIP() << "no CUDA device in this build or machine";
  auto pol = policy::make(tiny(), 6);
  ASSERT_TRUE(pol);
  const std::vector<int32_t> prompt{4, 9, 2};
  std::vector<float> dist;
  double unused = 0;
  nucleus_after(**pol, prompt, 1.0, &unused, &dist);
  for (double target : {0.0, 0.6}) {
    const auto c = top_k_of(dist, target);
    auto gen = batch_generator::make(**pol, o);
    ASSERT_TRUE(gen) << describe(gen.error());
    sampling_params sp;
    sp.top_k = c.k;
    sp.top_p = c.top_p;
    sp.max_new_tokens = 1;
    ASSERT_FALSE((*gen)->start(std::vector<std::vector<int32_t>>(1024, prompt), sp,
                               seeds_for(1024, 23)));
    while (!(*gen)->done())
      ASSERT_FALSE((*gen)->step(0));
    std::set<int32_t> seen;
    for (auto& r : (*gen)->take_results()) {
      ASSERT_EQ(r.tokens.size(), 1u);
      EXPECT_EQ(c.keep.count(r.tokens[0]), 1u) << "token " << r.tokens[0];
      EXPECT_NEAR(r.logprobs[0], dist[r.tokens[0]], 1e-3);
      seen.insert(r.tokens[0]);
    }
    EXPECT_EQ(seen, c.keep) << "top_k " << c.k << " top_p " << c.top_p;
  }
}

// 0 < top_p < 1: 1024 draws of the token after one prompt all lie in the
// nucleus and cover it; each records its log-prob under the full distribution.
TEST(BatchGenerator, TopPBelowOneSamplesTheWholeNucleusAndNothingElse) {
  auto pol = policy::make(tiny(), 6);
  ASSERT_TRUE(pol);
  const std::vector<int32_t> prompt{4, 9, 2};
  for (double target : {0.3, 0.7}) {
    std::vector<float> dist;
    double top_p = 0;
    const auto keep = nucleus_after(**pol, prompt, target, &top_p, &dist);
    ASSERT_GT(keep.size(), 1u) << "top_p " << top_p;
    ASSERT_LT(keep.size(), dist.size()) << "top_p " << top_p;
    device_options o;
    o.max_rows = 1024;
    auto gen = batch_generator::make(**pol, o);
    ASSERT_TRUE(gen);
    sampling_params sp;
    sp.top_p = top_p;
    sp.max_new_tokens = 1;
    ASSERT_FALSE((*gen)->start(std::vector<std::vector<int32_t>>(1024, prompt), sp,
                               seeds_for(1024, 17)));
    while (!(*gen)->done())
      ASSERT_FALSE((*gen)->step(0));
    std::set<int32_t> seen;
    for (auto& r : (*gen)->take_results()) {
      ASSERT_EQ(r.tokens.size(), 1u);
      const auto t = r.tokens[0];
      EXPECT_EQ(keep.count(t), 1u) << "top_p " << top_p << ": token " << t
                                    << " is outside the nucleus of " << keep.size();
      EXPECT_NEAR(r.logprobs[0], dist[t], 2e-5);
      seen.insert(t);
    }
    EXPECT_EQ(seen, keep) << "top_p " << top_p << ": some nucleus token was never drawn";
  }
}

TEST(BatchGenerator, SameSeedSameCompletions) {
  auto pol = policy::make(tiny(), 5);
  ASSERT_TRUE(pol);
  device_options o;
  o.max_rows = 4;
  sampling_params sp;
  sp.max_new_tokens = 6;
  std::vector<std::vector<int32_t>> tokens[2];
  for (auto& out : tokens) {
    auto gen = batch_generator::make(**pol, o);
    ASSERT_TRUE(gen);
    ASSERT_FALSE((*gen)->start(prompts(), sp, seeds_for(7, 9)));
    while (!(*gen)->done())
      ASSERT_FALSE((*gen)->step(0));
    for (auto& r : (*gen)->take_results())
      out.push_back(r.tokens);
  }
  EXPECT_EQ(tokens[0], tokens[1]);
}

// A group's completions depend on its seed and the weights only: decoded
// alone, or among other groups (other rows, other prefill companions, rows
// refilled at other steps), it samples the same tokens. The log-probs agree
// to float rounding, not bit for bit: a prefill's matrix shapes (rows x
// longest prompt) depend on which prompts share it, and CPU BLAS rounds
// differently per shape (seen: 1 ulp, 2.4e-7, in a few tokens).
TEST(BatchGenerator, AGroupSamplesTheSameCompletionsInWhateverBatchItLands) {
  auto pol = policy::make(tiny(), 8);
  ASSERT_TRUE(pol);
  const std::vector<int32_t> prompt{4, 9, 2, 7};
  const size_t group = 4;
  const uint64_t group_seed = 1234;
  auto decode = [&](const std::vector<std::vector<int32_t>>& prompts,
                    const std::vector<uint64_t>& seeds, int32_t rows, double top_p) {
    device_options o;
    o.max_rows = rows;
    auto gen = batch_generator::make(**pol, o);
    EXPECT_TRUE(gen);
    sampling_params sp;
    sp.max_new_tokens = 8;
    sp.stop_tokens = {0, 3};
    sp.top_p = top_p;
    EXPECT_FALSE((*gen)->start(prompts, sp, seeds));
    while (!(*gen)->done())
      EXPECT_FALSE((*gen)->step(0));
    return (*gen)->take_results();
  };
  for (double top_p : {1.0, 0.8}) {
    SCOPED_TRACE("top_p " + std::to_string(top_p));
    auto alone = decode(std::vector<std::vector<int32_t>>(group, prompt),
                        seeds_for(group, group_seed), 4, top_p);
    // Before: 3 completions of another prompt; after: 5 of a third. Five
    // rows, so the group's completions start at different steps and rows.
    std::vector<std::vector<int32_t>> prompts(3, {1, 2});
    auto seeds = seeds_for(3, 77);
    for (size_t i = 0; i < group; ++i) {
      prompts.push_back(prompt);
      seeds.push_back(seeds_for(group, group_seed)[i]);
    }
    for (size_t i = 0; i < 5; ++i) {
      prompts.push_back({5, 6, 7, 8, 9, 10});
      seeds.push_back(seeds_for(5, 99)[i]);
    }
    auto mixed = decode(prompts, seeds, 5, top_p);
    ASSERT_EQ(mixed.size(), 12u);
    bool any_differs = false;
    for (size_t i = 0; i < group; ++i) {
      EXPECT_EQ(mixed[3 + i].tokens, alone[i].tokens) << "completion " << i;
      ASSERT_EQ(mixed[3 + i].logprobs.size(), alone[i].logprobs.size());
      for (size_t t = 0; t < alone[i].logprobs.size(); ++t)
        EXPECT_NEAR(mixed[3 + i].logprobs[t], alone[i].logprobs[t], 1e-6)
          << "completion " << i << " token " << t;
      any_differs = any_differs || alone[i].tokens != alone[0].tokens;
    }
    EXPECT_TRUE(any_differs) << "the group's completions are all alike: the test shows nothing";
  }
}

// `base`'s weights with the lm_head of `donor` (lm_head is the last tensor
// of a blob, models/internal/transformer.cpp). Hidden states and KV-cache
// entries are the same under both, so a token decoded after a switch to
// these weights has exactly the log-prob that a full forward under them gives.
std::vector<char> with_lm_head_of(const policy& base, const policy& donor) {
  auto w = base.export_weights();
  auto d = donor.export_weights();
  const auto head = static_cast<ptrdiff_t>(tiny().vocab_size * tiny().hidden_size * sizeof(float));
  std::copy(d.end() - head, d.end(), w.end() - head);
  return w;
}

TEST(BatchGenerator, SyncedWeightsTakeEffectMidSequence) {
  auto pol = policy::make(tiny(), 1);
  auto old_weights = policy::make(tiny(), 1); // v0, for comparison
  auto new_weights = policy::make(tiny(), 1); // v1 once imported below
  auto donor = policy::make(tiny(), 2);
  ASSERT_TRUE(pol && old_weights && new_weights && donor);
  auto w = with_lm_head_of(**pol, **donor);
  ASSERT_FALSE((*new_weights)->import_weights(w.data(), w.size()));
  device_options o;
  o.max_rows = 7;
  auto gen = batch_generator::make(**pol, o);
  ASSERT_TRUE(gen);
  sampling_params sp;
  sp.max_new_tokens = 6;
  ASSERT_FALSE((*gen)->start(prompts(), sp, seeds_for(7, 1)));
  ASSERT_FALSE((*gen)->step(0));
  ASSERT_FALSE((*gen)->step(0));
  ASSERT_FALSE((*pol)->import_weights(w.data(), w.size()));
  ASSERT_FALSE((*gen)->sync_weights());
  while (!(*gen)->done())
    ASSERT_FALSE((*gen)->step(1));
  auto res = (*gen)->take_results();
  ASSERT_EQ(res.size(), prompts().size());
  std::vector<scored_input> batch;
  for (size_t i = 0; i < res.size(); ++i)
    batch.push_back({prompts()[i], res[i].tokens});
  auto before = (*old_weights)->score(batch, sp.temperature);
  auto after = (*new_weights)->score(batch, sp.temperature);
  ASSERT_TRUE(before && after);
  for (size_t i = 0; i < res.size(); ++i) {
    ASSERT_EQ(res[i].versions, (std::vector<int64_t>{0, 0, 1, 1, 1, 1}));
    for (size_t t = 0; t < 6; ++t) {
      const auto& want = t < 2 ? *before : *after;
      const auto& other = t < 2 ? *after : *before;
      EXPECT_NEAR(res[i].logprobs[t], want[i][t], 2e-5)
        << "sequence " << i << " token " << t << " (v" << res[i].versions[t] << ")";
      // The two weight sets give clearly different log-probs, so the
      // comparison above tells which weights decoded each token.
      EXPECT_GT(std::fabs(want[i][t] - other[i][t]), 1e-4) << "sequence " << i << " token " << t;
    }
  }
}

TEST(BatchGenerator, TeacherForcedDecodeLogitsEqualTheFullForward) {
  auto pol = policy::make(tiny(), 4);
  ASSERT_TRUE(pol);
  device_options o;
  o.max_rows = 2;
  auto gen = batch_generator::make(**pol, o);
  ASSERT_TRUE(gen);
  std::vector<int32_t> ids{3, 9, 27, 1, 14, 33, 8, 2, 19};
  auto full = (*pol)->logits(ids); // [9, V]
  auto forced = (*gen)->forced_logits(ids, 4); // positions 3..8
  ASSERT_TRUE(full && forced) << describe(forced ? full.error() : forced.error());
  const size_t v = 40;
  ASSERT_EQ(forced->size(), 6 * v);
  for (size_t r = 0; r < 6; ++r)
    for (size_t j = 0; j < v; ++j)
      EXPECT_NEAR((*forced)[r * v + j], (*full)[(r + 3) * v + j], 2e-5) << r << "," << j;
  EXPECT_FALSE((*gen)->forced_logits(ids, 0));
  EXPECT_FALSE((*gen)->forced_logits({1, 99}, 1));
}

TEST(BatchGenerator, Qwen2CheckpointWithBiasesAndTiedEmbeddingsDecodesLikeTheFullForward) {
  auto pol = policy::load_hf(std::string(TANDEM_TEST_DATA_DIR) + "/hf/tiny-qwen2");
  ASSERT_TRUE(pol) << describe(pol.error());
  device_options o;
  o.max_rows = 2;
  auto gen = batch_generator::make(**pol, o);
  ASSERT_TRUE(gen) << describe(gen.error());
  std::vector<int32_t> ids{1, 17, 250, 3, 99, 383, 42, 7, 0, 200};
  auto full = (*pol)->logits(ids);
  auto forced = (*gen)->forced_logits(ids, 3);
  ASSERT_TRUE(full && forced);
  const size_t v = 384;
  ASSERT_EQ(forced->size(), 8 * v);
  double worst = 0;
  for (size_t r = 0; r < 8; ++r)
    for (size_t j = 0; j < v; ++j)
      worst = std::max(worst, double(std::abs((*forced)[r * v + j] - (*full)[(r + 2) * v + j])));
  EXPECT_LT(worst, 2e-5);
}

TEST(BatchGenerator, BlobLoadsLikeASyncAndBadBlobsChangeNothing) {
  auto pol = policy::make(tiny(), 1);
  auto other = policy::make(tiny(), 2);
  ASSERT_TRUE(pol && other);
  device_options o;
  o.max_rows = 1;
  auto gen = batch_generator::make(**pol, o);
  ASSERT_TRUE(gen);
  std::vector<int32_t> ids{3, 9, 27, 1, 14};
  auto w = (*other)->export_weights();
  ASSERT_FALSE((*gen)->load_weights(w));
  auto got = (*gen)->forced_logits(ids, 2);
  auto want = (*other)->logits(ids);
  ASSERT_TRUE(got && want);
  for (size_t j = 0; j < got->size(); ++j)
    ASSERT_NEAR((*got)[j], (*want)[40 + j], 2e-5);
  auto bad = w;
  bad.pop_back();
  EXPECT_TRUE((*gen)->load_weights(bad));
  bad = w;
  float nan = std::nanf("");
  std::memcpy(bad.data() + 16, &nan, 4);
  EXPECT_TRUE((*gen)->load_weights(bad));
  auto still = (*gen)->forced_logits(ids, 2);
  ASSERT_TRUE(still);
  EXPECT_EQ(*still, *got) << "a refused blob changed the weights";
}

TEST(BatchGenerator, RejectsBadInputAndUnknownDevices) {
  auto pol = policy::make(tiny(), 1);
  ASSERT_TRUE(pol);
  device_options bad;
  bad.device = "tpu";
  EXPECT_FALSE(batch_generator::make(**pol, bad));
  bad.device = "cpu";
  bad.dtype = "int8";
  EXPECT_FALSE(batch_generator::make(**pol, bad));
  auto gen = batch_generator::make(**pol, device_options{});
  ASSERT_TRUE(gen);
  sampling_params sp;
  sp.max_new_tokens = 30; // beyond max_seq_len
  EXPECT_TRUE((*gen)->start(prompts(), sp, seeds_for(7, 1)));
  sp.max_new_tokens = 4;
  EXPECT_TRUE((*gen)->start({{99}}, sp, {1})); // token out of range
  EXPECT_TRUE((*gen)->start({{}}, sp, {1}));
  EXPECT_TRUE((*gen)->start(prompts(), sp, seeds_for(6, 1))); // one seed per prompt
}

} // namespace
} // namespace tandem
