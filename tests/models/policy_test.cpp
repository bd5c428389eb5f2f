// policy_test.cpp: the torch-free policy interface: deterministic weights,
// weight blob round trips and validation, and the batched KV-cache decoder
// against the learner-side scorer (sampler/learner agreement).

#include "models/policy.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;

namespace {

model_config tiny_config() { return test::tiny_wide_model(); }

std::unique_ptr<policy> make_policy(uint64_t seed, model_config cfg = tiny_config()) {
  policy::set_threads(1);
  auto p = policy::make(cfg, seed);
  EXPECT_TRUE(p) << describe(p.error());
  return std::move(*p);
}

// Prompts of lengths 1..8 with varied tokens, so that left padding differs per row.
std::vector<std::vector<int32_t>> mixed_prompts(size_t n) {
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i < n; ++i) {
    std::vector<int32_t> p;
    for (size_t j = 0; j <= i % 8; ++j)
      p.push_back(static_cast<int32_t>((3 * i + 7 * j + 1) % 25));
    out.push_back(p);
  }
  return out;
}

// One sampling seed per prompt, as the sampler derives them for a group.
std::vector<uint64_t> seeds_for(size_t n, uint64_t group_seed) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(completion_seed(group_seed, static_cast<int32_t>(i)));
  return out;
}

std::unique_ptr<decode_session> start_session(policy& pol,
                                              std::vector<std::vector<int32_t>> prompts,
                                              const sampling_params& sp, uint64_t seed) {
  const auto seeds = seeds_for(prompts.size(), seed);
  auto s = decode_session::start(pol, std::move(prompts), sp, seeds);
  EXPECT_TRUE(s) << describe(s.error());
  return s ? std::move(*s) : nullptr;
}

std::vector<generated_sequence> run_session(policy& pol,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            const sampling_params& sp, uint64_t seed) {
  auto s = decode_session::start(pol, prompts, sp, seeds_for(prompts.size(), seed));
  EXPECT_TRUE(s) << describe(s.error());
  int guard = 0;
  while (!(*s)->done() && guard++ < 100) {
    auto err = (*s)->step(0);
    EXPECT_FALSE(err) << describe(err);
  }
  return (*s)->take_results();
}

std::vector<std::vector<float>> score_all(policy& pol,
                                          const std::vector<std::vector<int32_t>>& prompts,
                                          const std::vector<generated_sequence>& out,
                                          double temperature) {
  std::vector<scored_input> in;
  for (size_t i = 0; i < prompts.size(); ++i)
    in.push_back({prompts[i], out[i].tokens});
  auto s = pol.score(in, temperature);
  EXPECT_TRUE(s) << describe(s.error());
  return *s;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// The next-token log-probs of the whole vocabulary after `prompt`.
std::vector<float> next_token_logprobs(policy& pol, const std::vector<int32_t>& prompt) {
  std::vector<scored_input> alts;
  for (int32_t t = 0; t < pol.config().vocab_size; ++t)
    alts.push_back({prompt, {t}});
  auto s = pol.score(alts, 1.0);
  EXPECT_TRUE(s) << describe(s.error());
  std::vector<float> out;
  for (auto& row : *s)
    out.push_back(row[0]);
  return out;
}

// The nucleus of a distribution for a top_p near `target`: tokens in order
// of probability, each kept while the mass of the ones before it is below
// top_p. `top_p` is set halfway between the mass before the last kept token
// and the mass before the first dropped one, so float rounding cannot move a
// token across the edge.
std::set<int32_t> nucleus(const std::vector<float>& logprobs, double target, double* top_p) {
  std::vector<int32_t> order(logprobs.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logprobs[a] > logprobs[b]; });
  std::set<int32_t> out;
  double before = 0, last_before = 0;
  for (auto t : order) {
    if (before >= target)
      break;
    out.insert(t);
    last_before = before;
    before += std::exp(double(logprobs[t]));
  }
  *top_p = (last_before + before) / 2;
  return out;
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

} // namespace

TEST(Policy, SameSeedGivesSameWeightsAndOtherSeedDifferent) {
  auto a = make_policy(1);
  auto b = make_policy(1);
  auto c = make_policy(2);
  EXPECT_EQ(a->export_weights(), b->export_weights());
  EXPECT_NE(a->export_weights(), c->export_weights());
  EXPECT_EQ(a->export_weights().size(), size_t(4 * a->num_parameters()));
}

TEST(Policy, ParameterCountMatchesTheLlamaLayout) {
  auto cfg = tiny_config();
  auto p = make_policy(1, cfg);
  const int64_t h = 64, kv = 2 * 16, inter = 176, v = 25;
  const int64_t layer = h * h + 2 * h * kv + h * h + 3 * h * inter + 2 * h;
  EXPECT_EQ(p->num_parameters(), v * h + 2 * layer + h + v * h);
  cfg.tie_embeddings = true;
  EXPECT_EQ(make_policy(1, cfg)->num_parameters(), v * h + 2 * layer + h);
}

TEST(Policy, ExportImportRoundTripReproducesWeightsAndScores) {
  auto a = make_policy(1);
  auto b = make_policy(2);
  auto blob = a->export_weights();
  ASSERT_FALSE(b->import_weights(blob.data(), blob.size()));
  EXPECT_EQ(b->export_weights(), blob);
  std::vector<scored_input> in{{{1, 2, 3}, {4, 5}}};
  EXPECT_EQ(*a->score(in, 1.0), *b->score(in, 1.0));
}

TEST(Policy, ImportRejectsWrongSizeAndNaNAndKeepsOldWeights) {
  auto p = make_policy(1);
  const auto before = p->export_weights();
  auto blob = make_policy(2)->export_weights();
  auto err = p->import_weights(blob.data(), blob.size() - 4);
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(blob.data() + blob.size() / 2 / 4 * 4, &nan, sizeof(float));
  err = p->import_weights(blob.data(), blob.size());
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_EQ(p->export_weights(), before);
}

TEST(Policy, ScoreRejectsOutOfRangeTokensAndEmptyPrompts) {
  auto p = make_policy(1);
  EXPECT_FALSE(p->score({{{1, 2}, {25}}}, 1.0));
  EXPECT_FALSE(p->score({{{}, {3}}}, 1.0));
  EXPECT_FALSE(p->score({{{1}, {3}}}, 0.0));
}

TEST(DecodeSession, StartRejectsInvalidPromptsAndParams) {
  auto p = make_policy(1);
  sampling_params sp;
  EXPECT_FALSE(decode_session::start(*p, {}, sp, {}));
  EXPECT_FALSE(decode_session::start(*p, {{}}, sp, {1}));
  EXPECT_FALSE(decode_session::start(*p, {{1, 99}}, sp, {1}));
  EXPECT_FALSE(decode_session::start(*p, {std::vector<int32_t>(30, 1)}, sp, {1})); // 30 + 8 > 32
  EXPECT_FALSE(decode_session::start(*p, {{1}, {2}}, sp, {1})); // one seed per prompt
  EXPECT_TRUE(decode_session::start(*p, {{1}, {2}}, sp, {1, 2}));
  sp.top_p = 0;
  EXPECT_FALSE(decode_session::start(*p, {{1}}, sp, {1}));
}

TEST(DecodeSession, IsDeterministicForAFixedSeed) {
  auto p = make_policy(1);
  sampling_params sp;
  sp.max_new_tokens = 6;
  auto prompts = mixed_prompts(16);
  auto a = run_session(*p, prompts, sp, 7);
  auto b = run_session(*p, prompts, sp, 7);
  auto c = run_session(*p, prompts, sp, 8);
  bool any_diff = false;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    EXPECT_EQ(a[i].logprobs, b[i].logprobs);
    any_diff = any_diff || a[i].tokens != c[i].tokens;
  }
  EXPECT_TRUE(any_diff) << "another seed should sample other tokens";
}

// The CPU sampler keys its draws by completion too: a group decoded alone
// or between other groups (other left padding, other rows) samples the same
// tokens, with log-probs equal to float rounding (the batch's shape, longest
// prompt included, changes how BLAS rounds; seen: a few 1-ulp differences).
TEST(DecodeSession, AGroupSamplesTheSameCompletionsInWhateverBatchItLands) {
  auto p = make_policy(2);
  sampling_params sp;
  sp.max_new_tokens = 6;
  const std::vector<int32_t> prompt{4, 9, 2};
  const size_t group = 4;
  auto alone = run_session(*p, std::vector<std::vector<int32_t>>(group, prompt), sp, 1234);
  auto prompts = mixed_prompts(3);
  auto seeds = seeds_for(3, 77);
  for (size_t i = 0; i < group; ++i) {
    prompts.push_back(prompt);
    seeds.push_back(seeds_for(group, 1234)[i]);
  }
  for (auto& q : mixed_prompts(8))
    prompts.push_back(q);
  for (auto s : seeds_for(8, 99))
    seeds.push_back(s);
  auto s = decode_session::start(*p, prompts, sp, seeds);
  ASSERT_TRUE(s);
  while (!(*s)->done())
    ASSERT_FALSE((*s)->step(0));
  auto mixed = (*s)->take_results();
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

TEST(DecodeSession, MaxNewTokensBoundsEveryCompletion) {
  auto p = make_policy(1);
  sampling_params sp;
  sp.max_new_tokens = 5;
  auto s = start_session(*p, mixed_prompts(8), sp, 3);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(s->done());
    ASSERT_FALSE(s->step(0));
  }
  EXPECT_TRUE(s->done());
  EXPECT_EQ(s->steps_taken(), 5);
  EXPECT_EQ(s->tokens_generated(), 8 * 5);
  EXPECT_FALSE(s->step(0)); // a finished session ignores further steps
  EXPECT_EQ(s->tokens_generated(), 8 * 5);
  for (const auto& r : s->take_results()) {
    EXPECT_EQ(r.tokens.size(), 5u);
    EXPECT_EQ(r.logprobs.size(), 5u);
    EXPECT_EQ(r.versions, std::vector<int64_t>(5, 0));
    EXPECT_FALSE(r.finished);
  }
}

TEST(DecodeSession, StopTokensEndSequencesAndAreIncluded) {
  auto p = make_policy(1);
  sampling_params sp;
  sp.max_new_tokens = 8;
  for (int32_t t = 0; t < 25; t += 3)
    sp.stop_tokens.push_back(t); // 9 of 25 tokens stop
  auto is_stop = [&](int32_t t) { return t % 3 == 0; };
  auto prompts = mixed_prompts(32);
  auto out = run_session(*p, prompts, sp, 11);
  int finished = 0, lengths_below_max = 0;
  for (const auto& r : out) {
    ASSERT_FALSE(r.tokens.empty());
    for (size_t j = 0; j + 1 < r.tokens.size(); ++j)
      EXPECT_FALSE(is_stop(r.tokens[j])) << "sequence grew after a stop token";
    EXPECT_EQ(r.finished, is_stop(r.tokens.back()));
    if (!r.finished) {
      EXPECT_EQ(r.tokens.size(), 8u);
    }
    finished += r.finished;
    lengths_below_max += r.tokens.size() < 8u;
  }
  EXPECT_GT(finished, 0);
  EXPECT_GT(lengths_below_max, 0);
}

TEST(DecodeSession, RecordedLogprobsEqualScoreForMixedPromptLengths) {
  auto p = make_policy(3);
  auto prompts = mixed_prompts(24);
  for (double temp : {0.7, 1.0}) {
    for (double top_p : {1.0, 0.9}) {
      sampling_params sp;
      sp.temperature = temp;
      sp.top_p = top_p;
      sp.max_new_tokens = 7;
      sp.stop_tokens = {0};
      auto out = run_session(*p, prompts, sp, 5);
      auto scored = score_all(*p, prompts, out, temp);
      for (size_t i = 0; i < out.size(); ++i)
        EXPECT_LE(max_abs_diff(out[i].logprobs, scored[i]), 1e-5f)
          << "row " << i << " temperature " << temp << " top_p " << top_p;
    }
  }
}

TEST(DecodeSession, WeightSwitchMidSessionIsTaggedAndChangesLogprobs) {
  auto p = make_policy(1);
  auto other = make_policy(2)->export_weights();
  auto prompts = mixed_prompts(8);
  sampling_params sp;
  sp.max_new_tokens = 5;
  auto reference = make_policy(1); // keeps the old weights for comparison
  auto s = start_session(*p, prompts, sp, 9);
  ASSERT_FALSE(s->step(0));
  ASSERT_FALSE(s->step(0));
  ASSERT_FALSE(p->import_weights(other.data(), other.size()));
  while (!s->done())
    ASSERT_FALSE(s->step(1));
  auto out = s->take_results();
  auto old_scores = score_all(*reference, prompts, out, 1.0);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].versions, (std::vector<int64_t>{0, 0, 1, 1, 1}));
    for (size_t j = 0; j < 2; ++j)
      EXPECT_NEAR(out[i].logprobs[j], old_scores[i][j], 1e-5);
    // Beyond the 1e-5 within which the same weights agree. (A larger bound
    // depends on the tokens drawn: some token's log-prob may move little.)
    for (size_t j = 2; j < 5; ++j)
      EXPECT_GT(std::fabs(out[i].logprobs[j] - old_scores[i][j]), 1e-5)
        << "row " << i << " token " << j << " still uses the old weights";
  }
}

TEST(DecodeSession, WeightsImportedBeforeTheFirstStepMatchAFreshScore) {
  auto p = make_policy(1);
  auto donor = make_policy(2);
  auto blob = donor->export_weights();
  auto prompts = mixed_prompts(8);
  sampling_params sp;
  sp.max_new_tokens = 4;
  auto s = start_session(*p, prompts, sp, 9);
  ASSERT_FALSE(p->import_weights(blob.data(), blob.size()));
  while (!s->done())
    ASSERT_FALSE(s->step(1));
  auto out = s->take_results();
  auto scores = score_all(*donor, prompts, out, 1.0);
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_LE(max_abs_diff(out[i].logprobs, scores[i]), 1e-5f);
}

TEST(DecodeSession, TinyTopPSamplesTheArgmax) {
  auto p = make_policy(4);
  auto prompts = mixed_prompts(6);
  sampling_params sp;
  sp.top_p = 1e-6;
  sp.max_new_tokens = 4;
  auto a = run_session(*p, prompts, sp, 1);
  auto b = run_session(*p, prompts, sp, 2);
  // Score every alternative token at every position: the chosen one is the max.
  std::vector<scored_input> alts;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens) << "greedy must not depend on the seed";
    for (size_t j = 0; j < a[i].tokens.size(); ++j)
      for (int32_t t = 0; t < 25; ++t) {
        std::vector<int32_t> c(a[i].tokens.begin(), a[i].tokens.begin() + j);
        c.push_back(t);
        alts.push_back({prompts[i], c});
      }
  }
  auto scored = *p->score(alts, 1.0);
  size_t k = 0;
  for (size_t i = 0; i < prompts.size(); ++i)
    for (size_t j = 0; j < a[i].tokens.size(); ++j) {
      float best = -1e30f;
      int32_t arg = -1;
      for (int32_t t = 0; t < 25; ++t, ++k)
        if (scored[k].back() > best) {
          best = scored[k].back();
          arg = t;
        }
      EXPECT_EQ(a[i].tokens[j], arg) << "row " << i << " position " << j;
    }
}

// 0 < top_p < 1: 1024 draws of the token after one prompt all lie in the
// nucleus, cover it, and record their log-prob under the full distribution
// (what the learner recomputes).
TEST(DecodeSession, TopPBelowOneSamplesTheWholeNucleusAndNothingElse) {
  auto p = make_policy(4);
  const std::vector<int32_t> prompt{3, 8, 1};
  const auto dist = next_token_logprobs(*p, prompt);
  for (double target : {0.3, 0.7}) {
    double top_p = 0;
    const auto keep = nucleus(dist, target, &top_p);
    ASSERT_GT(keep.size(), 1u) << "top_p " << top_p;
    ASSERT_LT(keep.size(), dist.size()) << "top_p " << top_p;
    sampling_params sp;
    sp.top_p = top_p;
    sp.max_new_tokens = 1;
    // 1024 draws, as in batch_generator_test: with 64, whether a nucleus
    // token of small mass gets drawn depends on the seeds (the per-completion
    // seeds left one undrawn).
    auto out = run_session(*p, std::vector<std::vector<int32_t>>(1024, prompt), sp, 17);
    std::set<int32_t> seen;
    for (auto& r : out) {
      ASSERT_EQ(r.tokens.size(), 1u);
      const auto t = r.tokens[0];
      EXPECT_EQ(keep.count(t), 1u) << "top_p " << top_p << ": token " << t
                                    << " is outside the nucleus of " << keep.size();
      EXPECT_NEAR(r.logprobs[0], dist[t], 1e-5);
      seen.insert(t);
    }
    EXPECT_EQ(seen, keep) << "top_p " << top_p << ": some nucleus token was never drawn";
  }
}

// top_k (alone, and followed by top_p on what it kept): 1024 draws all lie
// among the kept tokens and cover them, each recording its log-prob under
// the full distribution (what the learner recomputes).
TEST(DecodeSession, TopKSamplesOnlyTheKMostProbableTokens) {
  auto p = make_policy(4);
  const std::vector<int32_t> prompt{3, 8, 1};
  const auto dist = next_token_logprobs(*p, prompt);
  for (double target : {0.0, 0.6}) {
    const auto c = top_k_of(dist, target);
    ASSERT_GT(c.keep.size(), 1u);
    sampling_params sp;
    sp.top_k = c.k;
    sp.top_p = c.top_p;
    sp.max_new_tokens = 1;
    auto out = run_session(*p, std::vector<std::vector<int32_t>>(1024, prompt), sp, 29);
    std::set<int32_t> seen;
    for (auto& r : out) {
      ASSERT_EQ(r.tokens.size(), 1u);
      const auto t = r.tokens[0];
      EXPECT_EQ(c.keep.count(t), 1u) << "top_k " << c.k << " top_p " << c.top_p << ": token "
                                      << t << " is outside the " << c.keep.size() << " kept";
      EXPECT_NEAR(r.logprobs[0], dist[t], 1e-5);
      seen.insert(t);
    }
    EXPECT_EQ(seen, c.keep) << "top_k " << c.k << " top_p " << c.top_p;
  }
}

TEST(DecodeSession, TopKBeyondTheVocabularyIsNoCutAndNegativeIsRefused) {
  auto p = make_policy(1);
  sampling_params sp;
  sp.max_new_tokens = 3;
  sp.top_k = 1000; // more than the 25 ids: no cut
  auto cut = run_session(*p, {{1, 2}, {3}}, sp, 5);
  sp.top_k = 0;
  auto off = run_session(*p, {{1, 2}, {3}}, sp, 5);
  for (size_t i = 0; i < cut.size(); ++i)
    EXPECT_EQ(cut[i].tokens, off[i].tokens);
  sp.top_k = -1;
  EXPECT_FALSE(decode_session::start(*p, {{1}}, sp, {1}));
}

TEST(DecodeSession, SpeedOfBatch64x6TokensOnOneThread) {
  auto p = make_policy(1);
  sampling_params sp;
  sp.max_new_tokens = 6;
  auto prompts = mixed_prompts(64);
  run_session(*p, prompts, sp, 1); // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 5;
  for (int r = 0; r < reps; ++r)
    run_session(*p, prompts, sp, r);
  const auto ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("decode_session batch 64 x 6 tokens: %.2f ms\n", ms);
  EXPECT_LT(ms, 2000.0); // catches pathological slow paths, not a benchmark
}
