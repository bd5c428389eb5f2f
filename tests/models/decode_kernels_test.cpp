// decode_kernels_test: the fused CUDA decode step and draw
// (docs/decode-kernels.md) against LibTorch's path on the same GPU, and the
// fused draw against the CPU policy's distribution. GPU only: skipped
// without a CUDA device or build, failed instead when TANDEM_REQUIRE_GPU=1
// (scripts/gpu-build.sh sets it).
//
// Shapes: contexts up to 300 slots (three of the attention's 128-slot
// chunks), grouped-query attention with 4 query heads per kv head, q/k/v
// bias, and a Qwen3-style model with per-head q/k RMSNorm.
// Tolerances: float32 logits within 1e-4 of LibTorch's (the two paths add in
// a different order); in bfloat16, the fused step's error against the
// float32 logits at most 1.5x LibTorch's own bfloat16 error, plus 0.01.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include <gtest/gtest.h>

#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"

namespace tandem {
namespace {

model_config gqa_shape(bool qk_norm) {
  model_config c;
  c.vocab_size = 300;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 1;
  c.intermediate_size = 96;
  c.max_seq_len = 300;
  c.model_type = "qwen2"; // q/k/v bias
  c.attention_bias = true;
  if (qk_norm) {
    c.attention_bias = false;
    c.model_type = "qwen3";
    c.qk_norm = true;
    c.head_dim = 32; // Qwen3 sets its own head_dim: 4 x 32 != 64
  }
  return c;
}

bool gpu_or_skip(const device_options& o) {
  if (!check_device(o))
    return true;
  const char* req = std::getenv("TANDEM_REQUIRE_GPU");
  if (req && std::string(req) == "1")
    ADD_FAILURE() << "TANDEM_REQUIRE_GPU=1 but no CUDA device or build";
  return false;
}

device_options on_gpu(const std::string& dtype, bool kernels, int32_t rows) {
  device_options o;
  o.device = "cuda";
  o.dtype = dtype;
  o.fused_kernels = kernels;
  o.max_rows = rows;
  return o;
}

std::vector<int32_t> sequence(int32_t n, int32_t vocab, uint32_t seed) {
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < n; ++i)
    ids.push_back(static_cast<int32_t>((seed * 2654435761u + 97u * i * i + 13u * i) % vocab));
  return ids;
}

/// Teacher-forced logits of `ids` (prefill 5, then one decode step per token).
std::vector<float> forced(policy& pol, const device_options& o, const std::vector<int32_t>& ids,
                          bool expect_kernels) {
  auto gen = batch_generator::make(pol, o);
  EXPECT_TRUE(gen) << describe(gen.error());
  if (!gen)
    return {};
  EXPECT_EQ((*gen)->kernels_enabled(), expect_kernels);
  EXPECT_TRUE((*gen)->graph_enabled());
  auto l = (*gen)->forced_logits(ids, 5);
  EXPECT_TRUE(l) << describe(l.error());
  return l ? *l : std::vector<float>{};
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

// Runs everywhere: the shapes below are valid models, and off CUDA the
// switch changes nothing (LibTorch's path runs and says so).
TEST(DecodeKernels, ShapesAreValidAndTheSwitchIsIgnoredOffCuda) {
  for (bool qk_norm : {false, true}) {
    auto pol = policy::make(gqa_shape(qk_norm), 10);
    ASSERT_TRUE(pol) << describe(pol.error());
    device_options o;
    o.fused_kernels = true;
    o.max_rows = 2;
    auto gen = batch_generator::make(**pol, o);
    ASSERT_TRUE(gen) << describe(gen.error());
    EXPECT_FALSE((*gen)->kernels_enabled());
    auto l = (*gen)->forced_logits(sequence(140, 300, 1), 5);
    ASSERT_TRUE(l) << describe(l.error());
    EXPECT_EQ(l->size(), size_t(136) * 300);
  }
}

TEST(DecodeKernels, Float32StepMatchesLibTorchAcrossChunksWithBiasAndGqa) {
  if (!gpu_or_skip(on_gpu("float32", true, 4)))
    GTEST_SKIP() << "no CUDA device in this build or machine";
  for (bool qk_norm : {false, true}) {
    auto pol = policy::make(gqa_shape(qk_norm), 11);
    ASSERT_TRUE(pol) << describe(pol.error());
    auto ids = sequence(290, 300, 3);
    auto fused = forced(**pol, on_gpu("float32", true, 4), ids, true);
    auto torch_path = forced(**pol, on_gpu("float32", false, 4), ids, false);
    ASSERT_EQ(fused.size(), size_t(286) * 300);
    EXPECT_LT(max_diff(fused, torch_path), 1e-4) << "qk_norm " << qk_norm;
  }
}

TEST(DecodeKernels, Bfloat16StepIsAsAccurateAsLibTorchBfloat16) {
  if (!gpu_or_skip(on_gpu("bfloat16", true, 4)))
    GTEST_SKIP() << "no CUDA device in this build or machine";
  for (bool qk_norm : {false, true}) {
    auto pol = policy::make(gqa_shape(qk_norm), 12);
    ASSERT_TRUE(pol);
    auto ids = sequence(260, 300, 5);
    auto ref = forced(**pol, on_gpu("float32", false, 4), ids, false);
    auto fused = forced(**pol, on_gpu("bfloat16", true, 4), ids, true);
    auto torch_bf16 = forced(**pol, on_gpu("bfloat16", false, 4), ids, false);
    const double e_fused = max_diff(fused, ref), e_torch = max_diff(torch_bf16, ref);
    EXPECT_LE(e_fused, 1.5 * e_torch + 0.01) << "qk_norm " << qk_norm << ": fused " << e_fused
                                              << ", LibTorch bf16 " << e_torch;
  }
}

std::vector<uint64_t> seeds(size_t n, uint64_t group) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(completion_seed(group, static_cast<int32_t>(i)));
  return out;
}

std::vector<generated_sequence> generate(policy& pol, const device_options& o,
                                         const std::vector<std::vector<int32_t>>& prompts,
                                         const sampling_params& sp, bool expect_kernels) {
  auto gen = batch_generator::make(pol, o);
  EXPECT_TRUE(gen) << describe(gen.error());
  if (!gen)
    return {};
  EXPECT_EQ((*gen)->kernels_enabled(), expect_kernels);
  EXPECT_FALSE((*gen)->start(prompts, sp, seeds(prompts.size(), 31)));
  while (!(*gen)->done())
    EXPECT_FALSE((*gen)->step(0));
  return (*gen)->take_results();
}

// Rows of different lengths (prompts of 3 to 190 tokens, 60 new tokens)
// cross the 128-slot chunk edge at different steps; with the same seeds the
// fused draw picks LibTorch's tokens (float32 rounding may flip a draw that
// lands on a CDF edge: at most 2 of 48 sequences may part ways) and records
// the same log-probs.
TEST(DecodeKernels, FusedGenerationDrawsLibTorchsTokensRowByRow) {
  if (!gpu_or_skip(on_gpu("float32", true, 16)))
    GTEST_SKIP() << "no CUDA device in this build or machine";
  auto pol = policy::make(gqa_shape(false), 13);
  ASSERT_TRUE(pol);
  std::vector<std::vector<int32_t>> prompts;
  for (int32_t i = 0; i < 48; ++i)
    prompts.push_back(sequence(3 + (i * 37) % 188, 300, static_cast<uint32_t>(i)));
  sampling_params sp;
  sp.max_new_tokens = 60;
  sp.temperature = 0.7;
  auto a = generate(**pol, on_gpu("float32", true, 16), prompts, sp, true);
  auto b = generate(**pol, on_gpu("float32", false, 16), prompts, sp, false);
  ASSERT_EQ(a.size(), prompts.size());
  ASSERT_EQ(b.size(), prompts.size());
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].tokens.size(), 60u);
    if (a[i].tokens != b[i].tokens)
      continue;
    ++same;
    for (size_t t = 0; t < a[i].tokens.size(); ++t)
      EXPECT_NEAR(a[i].logprobs[t], b[i].logprobs[t], 1e-4) << "sequence " << i << " token " << t;
  }
  EXPECT_GE(same, 46) << "of 48 sequences";
}

// The fused draw samples the policy's distribution: 4096 first tokens after
// one prompt at temperature 0.3 against the CPU policy's probabilities
// (total variation below 0.06; about 0.02 is expected from 4096 draws), each
// with its CPU log-prob.
TEST(DecodeKernels, FusedDrawSamplesThePolicyDistribution) {
  if (!gpu_or_skip(on_gpu("float32", true, 4096)))
    GTEST_SKIP() << "no CUDA device in this build or machine";
  auto pol = policy::make(gqa_shape(false), 14);
  ASSERT_TRUE(pol);
  const std::vector<int32_t> prompt{7, 3, 250, 41};
  const double temperature = 0.3;
  std::vector<scored_input> alts;
  for (int32_t t = 0; t < 300; ++t)
    alts.push_back({prompt, {t}});
  auto s = (*pol)->score(alts, temperature);
  ASSERT_TRUE(s);
  sampling_params sp;
  sp.max_new_tokens = 1;
  sp.temperature = temperature;
  auto out = generate(**pol, on_gpu("float32", true, 4096),
                      std::vector<std::vector<int32_t>>(4096, prompt), sp, true);
  ASSERT_EQ(out.size(), 4096u);
  std::map<int32_t, int> count;
  for (auto& r : out) {
    ASSERT_EQ(r.tokens.size(), 1u);
    const auto t = r.tokens[0];
    ASSERT_GE(t, 0);
    ASSERT_LT(t, 300);
    EXPECT_NEAR(r.logprobs[0], (*s)[static_cast<size_t>(t)][0], 1e-4) << "token " << t;
    ++count[t];
  }
  double tv = 0;
  for (int32_t t = 0; t < 300; ++t)
    tv += std::abs(count[t] / 4096.0 - std::exp(double((*s)[static_cast<size_t>(t)][0])));
  EXPECT_LT(tv / 2, 0.06);
}

} // namespace
} // namespace tandem
