// shared_prefill_test: shared-prompt prefill (docs/shared-prefill.md). Rows
// with equal prompts are grouped by their tokens (prompt_groups), prefilled
// once, and sample what they would have sampled with a prefill each: the
// same tokens, log-probs and versions, in the CPU decode session and in the
// device generator (run on CPU here, float32), for groups of 1, 4 and 16,
// prompts of different lengths in one batch and two groups with one prompt.
#include <cmath>
#include <functional>

#include <gtest/gtest.h>

#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "models/prompt_groups.hpp"
#include "runtime/error.hpp"
#include "tests/support/tiny_model.hpp"

namespace tandem {
namespace {

model_config tiny() { return test::tiny_decoder_model(); }

// A sampler's request: each group's prompt G times, seeds per completion.
struct batch {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<uint64_t> seeds;
};

batch mixed_groups() {
  const std::vector<int32_t> a{4, 9, 2}, b{1, 5, 7, 11, 13, 3, 8}, c{6}, d{12, 14, 16, 18, 20};
  struct group {
    const std::vector<int32_t>* prompt;
    int32_t size;
    uint64_t seed;
  };
  // Groups of 4, 16 and 1; `a` twice (another group of the same prompt,
  // not next to the first); lengths 3, 7, 1 and 5.
  const std::vector<group> groups{{&a, 4, 101}, {&b, 16, 102}, {&c, 1, 103},
                                  {&a, 4, 104}, {&d, 1, 105}};
  batch out;
  for (auto& g : groups)
    for (int32_t i = 0; i < g.size; ++i) {
      out.prompts.push_back(*g.prompt);
      out.seeds.push_back(completion_seed(g.seed, i));
    }
  return out;
}

// Full distribution, nucleus, and top-k then nucleus.
struct cut {
  double top_p;
  int32_t top_k;
};
const cut cuts[] = {{1.0, 0}, {0.8, 0}, {0.9, 6}};

sampling_params params(cut c = cuts[0]) {
  sampling_params sp;
  sp.max_new_tokens = 8;
  sp.stop_tokens = {0};
  sp.top_p = c.top_p;
  sp.top_k = c.top_k;
  return sp;
}

void expect_same(const std::vector<generated_sequence>& on,
                 const std::vector<generated_sequence>& off) {
  ASSERT_EQ(on.size(), off.size());
  for (size_t i = 0; i < on.size(); ++i) {
    EXPECT_EQ(on[i].tokens, off[i].tokens) << "row " << i;
    EXPECT_EQ(on[i].versions, off[i].versions) << "row " << i;
    EXPECT_EQ(on[i].finished, off[i].finished) << "row " << i;
    ASSERT_EQ(on[i].logprobs.size(), off[i].logprobs.size()) << "row " << i;
    for (size_t t = 0; t < on[i].logprobs.size(); ++t)
      EXPECT_NEAR(on[i].logprobs[t], off[i].logprobs[t], 1e-5) << "row " << i << " token " << t;
  }
}

struct outcome {
  std::vector<generated_sequence> results;
  prefill_counts counts;
};

outcome run_session(policy& pol, const batch& b, bool shared, cut c = cuts[0]) {
  decode_options o;
  o.shared_prefill = shared;
  auto s = decode_session::start(pol, b.prompts, params(c), b.seeds, o);
  EXPECT_TRUE(s);
  for (int64_t v = 0; !(*s)->done(); ++v)
    EXPECT_FALSE((*s)->step(v / 3)); // versions change along the way
  return {(*s)->take_results(), (*s)->prefill_stats()};
}

outcome run_generator(policy& pol, const batch& b, bool shared, int32_t rows,
                      cut c = cuts[0]) {
  device_options o;
  o.max_rows = rows;
  o.shared_prefill = shared;
  auto g = batch_generator::make(pol, o);
  EXPECT_TRUE(g) << describe(g.error());
  EXPECT_FALSE((*g)->start(b.prompts, params(c), b.seeds));
  for (int64_t v = 0; !(*g)->done(); ++v)
    EXPECT_FALSE((*g)->step(v / 3));
  return {(*g)->take_results(), (*g)->prefill_stats()};
}

TEST(PromptGroups, GroupsRowsByEqualTokensWhereverTheyStand) {
  const std::vector<std::vector<int32_t>> p{{1, 2}, {3}, {1, 2}, {1, 2, 0}, {3}, {1}, {1, 2}};
  auto g = group_prompts(p);
  ASSERT_EQ(g.distinct(), 4u);
  EXPECT_EQ(g.first, (std::vector<size_t>{0, 1, 3, 5}));
  EXPECT_EQ(g.of, (std::vector<size_t>{0, 1, 0, 2, 1, 3, 0}));
  EXPECT_TRUE(g.leads(0));
  EXPECT_FALSE(g.leads(2));
  auto off = distinct_rows(3);
  EXPECT_EQ(off.first, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(off.of, (std::vector<size_t>{0, 1, 2}));
}

TEST(SharedPrefill, DecodeSessionSamplesTheSameWithItOnAndOff) {
  auto pol = policy::make(tiny(), 3);
  ASSERT_TRUE(pol);
  auto b = mixed_groups();
  for (auto c : cuts) {
    SCOPED_TRACE("top_p " + std::to_string(c.top_p) + " top_k " + std::to_string(c.top_k));
    auto on = run_session(**pol, b, true, c);
    auto off = run_session(**pol, b, false, c);
    expect_same(on.results, off.results);
  }
}

TEST(SharedPrefill, DecodeSessionRunsEachDistinctPromptThroughTheModelOnce) {
  auto pol = policy::make(tiny(), 3);
  ASSERT_TRUE(pol);
  auto b = mixed_groups();
  auto on = run_session(**pol, b, true);
  EXPECT_EQ(on.counts.rows, 26);
  EXPECT_EQ(on.counts.forward_rows, 4);
  EXPECT_EQ(on.counts.forward_tokens, 3 + 7 + 1 + 5);
  auto off = run_session(**pol, b, false);
  EXPECT_EQ(off.counts.rows, 26);
  EXPECT_EQ(off.counts.forward_rows, 26);
  EXPECT_EQ(off.counts.forward_tokens, 8 * 3 + 16 * 7 + 1 + 5);
}

TEST(SharedPrefill, DeviceGeneratorSamplesTheSameWithItOnAndOff) {
  auto pol = policy::make(tiny(), 5);
  ASSERT_TRUE(pol);
  auto b = mixed_groups();
  // All rows at once, and 7 rows: groups split over refills, rows reused.
  for (auto c : cuts)
    for (int32_t rows : {26, 7}) {
      SCOPED_TRACE("max_rows " + std::to_string(rows) + " top_p " + std::to_string(c.top_p)
                   + " top_k " + std::to_string(c.top_k));
      auto on = run_generator(**pol, b, true, rows, c);
      auto off = run_generator(**pol, b, false, rows, c);
      expect_same(on.results, off.results);
      EXPECT_EQ(on.counts.rows, 26);
      EXPECT_EQ(off.counts.forward_rows, 26);
    }
}

TEST(SharedPrefill, DeviceGeneratorPrefillsEachDistinctPromptOncePerRefill) {
  auto pol = policy::make(tiny(), 5);
  ASSERT_TRUE(pol);
  auto on = run_generator(**pol, mixed_groups(), true, 26);
  EXPECT_EQ(on.counts.rows, 26);
  EXPECT_EQ(on.counts.forward_rows, 4);
  EXPECT_EQ(on.counts.forward_tokens, 3 + 7 + 1 + 5);
  auto off = run_generator(**pol, mixed_groups(), false, 26);
  EXPECT_EQ(off.counts.forward_rows, 26);
  EXPECT_EQ(off.counts.forward_tokens, 8 * 3 + 16 * 7 + 1 + 5);
}

// The rows that copy a prefill decode like the row that ran it: a group of
// 16 rows, one seed each, samples what 16 single-row batches of the same
// prompt and seeds sample.
TEST(SharedPrefill, ForkedRowsMatchRowsDecodedAlone) {
  auto pol = policy::make(tiny(), 7);
  ASSERT_TRUE(pol);
  batch group;
  for (int32_t i = 0; i < 16; ++i) {
    group.prompts.push_back({2, 4, 6, 8});
    group.seeds.push_back(completion_seed(9, i));
  }
  auto together = run_generator(**pol, group, true, 16);
  EXPECT_EQ(together.counts.forward_rows, 1);
  for (size_t i = 0; i < 16; ++i) {
    batch one{{group.prompts[i]}, {group.seeds[i]}};
    auto alone = run_generator(**pol, one, true, 1);
    expect_same({together.results[i]}, alone.results);
  }
}

// Rows forked from one prefill hold exact copies of its cache: with one
// prompt and one seed, every row samples the same completion as the row
// that ran the prefill, token for token, on the CPU and (where the build
// and machine have one) on a GPU in bf16 with the CUDA graph.
TEST(SharedPrefill, RowsForkedFromOnePrefillDecodeExactlyLikeIt) {
  auto pol = policy::make(tiny(), 11);
  ASSERT_TRUE(pol);
  device_options gpu;
  gpu.device = "cuda";
  gpu.dtype = "bfloat16";
  std::vector<device_options> devices{device_options{}};
  if (!check_device(gpu))
    devices.push_back(gpu);
  const std::vector<int32_t> prompt{3, 1, 4, 1, 5, 9, 2, 6};
  for (auto o : devices) {
    SCOPED_TRACE(o.device);
    o.max_rows = 12;
    auto g = batch_generator::make(**pol, o);
    ASSERT_TRUE(g) << describe(g.error());
    ASSERT_FALSE((*g)->start(std::vector<std::vector<int32_t>>(12, prompt), params(),
                             std::vector<uint64_t>(12, completion_seed(3, 0))));
    while (!(*g)->done())
      ASSERT_FALSE((*g)->step(0));
    EXPECT_EQ((*g)->prefill_stats().forward_rows, 1);
    auto res = (*g)->take_results();
    for (size_t i = 1; i < res.size(); ++i) {
      EXPECT_EQ(res[i].tokens, res[0].tokens) << "row " << i;
      EXPECT_EQ(res[i].logprobs, res[0].logprobs) << "row " << i;
    }
  }
}

} // namespace
} // namespace tandem
