// decode_roofline_test: the bytes `tandem bench decode` sets against the HBM
// bandwidth, on the Qwen2-0.5B shape, and the bandwidth table by device name.
#include <gtest/gtest.h>

#include "bench/decode_roofline.hpp"

namespace tandem {
namespace {

model_config qwen2_half_b() {
  model_config m;
  m.vocab_size = 151936;
  m.hidden_size = 896;
  m.num_layers = 24;
  m.num_heads = 14;
  m.num_kv_heads = 2;
  m.intermediate_size = 4864;
  return m;
}

TEST(DecodeRoofline, StepBytesAreTheWeightsOnceAndTheContextsKeysAndValues) {
  // bf16: 494,032,768 parameters x 2 bytes; per token and row 24 layers x
  // (K, V) x 2 kv heads x 64 x 2 bytes = 12,288 bytes.
  auto b = decode_step_bytes(qwen2_half_b(), 494032768, 2, 64, 192);
  EXPECT_DOUBLE_EQ(b.weights, 988065536.0);
  EXPECT_DOUBLE_EQ(b.kv, 12288.0 * 64 * 192);
  EXPECT_DOUBLE_EQ(b.total(), b.weights + b.kv);
}

TEST(DecodeRoofline, KnowsTheBandwidthOfTheCardsTandemRunsOn) {
  EXPECT_EQ(hbm_gbs_of("NVIDIA H100 80GB HBM3"), 3350);
  EXPECT_EQ(hbm_gbs_of("NVIDIA H100 PCIe"), 2000);
  EXPECT_EQ(hbm_gbs_of("NVIDIA H200"), 4800);
  EXPECT_EQ(hbm_gbs_of("cpu"), 0);
}

} // namespace
} // namespace tandem
