// hf_checkpoint_test.cpp: Hugging Face config.json and logits through the
// torch-free policy interface. Reference numbers are the fp32 logits that
// transformers 5.17 computed for the committed fixtures (tests/data/hf, made
// by tests/reference/make_hf_fixtures.py); mistakes a loader could make are
// applied to copies of the fixtures in a temporary directory and must fail
// the comparison. Saving and broken files: hf_checkpoint_files_test.cpp.

#include "models/hf_checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "tests/support/hf_fixture.hpp"

using namespace tandem;
using namespace tandem::test;

namespace {
const std::string data_dir = hf_data_dir();
} // namespace

// --- config.json --------------------------------------------------------------

TEST(HfConfig, LlamaFieldsMapOntoModelConfig) {
  auto c = read_hf_config(data_dir + "/tiny-llama");
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->vocab_size, 384);
  EXPECT_EQ(c->hidden_size, 32);
  EXPECT_EQ(c->intermediate_size, 64);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->max_position_embeddings, 64);
  EXPECT_EQ(c->max_seq_len, 64);
  EXPECT_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_FALSE(c->tie_embeddings);
  EXPECT_FALSE(c->attention_bias);
}

TEST(HfConfig, Qwen2HasBiasesTiedEmbeddingsAndRopeThetaFromRopeParameters) {
  auto c = read_hf_config(data_dir + "/tiny-qwen2/config.json", {/*max_seq_len=*/16});
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->tie_embeddings);
  EXPECT_EQ(c->rope_theta, 1000000.0);
  EXPECT_EQ(c->max_seq_len, 16);
  EXPECT_EQ(c->max_position_embeddings, 64);
}

TEST_F(HfCheckpoint, UnsupportedConfigsAreRefusedNamingTheField) {
  const auto dir = copy_of("tiny-llama");
  struct refusal {
    const char* key;
    const char* value;
    const char* says;
  };
  const refusal cases[] = {
    {"model_type", "\"gemma\"",
     "model_type: \"gemma\" is not supported (llama, qwen2, qwen3, mistral)"},
    {"hidden_act", "\"gelu\"", "hidden_act: \"gelu\" is not supported"},
    {"rope_parameters", "{\"rope_type\": \"yarn\", \"rope_theta\": 10000.0}",
     "rope scaling \"yarn\" is not supported"},
    {"attention_bias", "true", "attention_bias"},
    {"head_dim", "7", "head_dim: must be a positive even integer"},
    {"num_hidden_layers", "0", "num_hidden_layers: must be a positive integer"},
  };
  const auto original = read_file(dir + "/config.json");
  for (const auto& c : cases) {
    set_config(dir, c.key, c.value);
    auto msg = load_failure(read_hf_config(dir), errc::invalid_config);
    EXPECT_NE(msg.find(dir + "/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_FALSE(policy::load_hf(dir)) << c.key;
    write_file(dir + "/config.json", original);
  }
  EXPECT_NE(load_failure(read_hf_config(dir, {/*max_seq_len=*/65}), errc::invalid_config)
              .find("below the requested max_seq_len 65"),
            std::string::npos);
}

TEST_F(HfCheckpoint, ConfigErrorsPointAtTheLineAndColumnOfTheField) {
  const auto dir = copy_of("tiny-llama");
  const auto original = read_file(dir + "/config.json");
  set_config(dir, "hidden_act", "\"gelu\"");
  auto msg = load_failure(read_hf_config(dir), errc::invalid_config);
  EXPECT_NE(msg.find(dir + "/config.json:11:17: hidden_act: \"gelu\" is not supported"),
            std::string::npos) << msg;
  // A key written twice is refused, not resolved one way or the other.
  write_file(dir + "/config.json", "{\n  \"vocab_size\": 1," + original.substr(1));
  msg = load_failure(read_hf_config(dir), errc::invalid_config);
  EXPECT_NE(msg.find(dir + "/config.json:32:3: duplicate key \"vocab_size\" (first at 2:3)"),
            std::string::npos) << msg;
  write_file(dir + "/config.json", "{\"a\": }");
  msg = load_failure(read_hf_config(dir), errc::invalid_config);
  EXPECT_NE(msg.find(dir + "/config.json:1:7: expected a value"), std::string::npos) << msg;
}

TEST_F(HfCheckpoint, Qwen2SlidingWindowIsRefused) {
  const auto dir = copy_of("tiny-qwen2");
  set_config(dir, "use_sliding_window", "true");
  EXPECT_NE(load_failure(read_hf_config(dir), errc::invalid_config).find("sliding-window"),
            std::string::npos);
}

// --- logits against transformers ----------------------------------------------

TEST(HfLogits, LlamaMatchesTransformers) {
  auto p = load(data_dir + "/tiny-llama");
  ASSERT_TRUE(p);
  const double diff = max_logit_diff(*p, expected_for("tiny-llama"));
  EXPECT_LT(diff, hf_logits_tolerance);
  std::printf("tiny-llama max |logit diff| = %.3g\n", diff);
}

TEST(HfLogits, ShardedLlamaMatchesTransformers) {
  auto p = load(data_dir + "/tiny-llama-sharded");
  ASSERT_TRUE(p);
  EXPECT_LT(max_logit_diff(*p, expected_for("tiny-llama")), hf_logits_tolerance);
}

TEST(HfLogits, Qwen2WithBiasesAndTiedEmbeddingsMatchesTransformers) {
  auto p = load(data_dir + "/tiny-qwen2");
  ASSERT_TRUE(p);
  const double diff = max_logit_diff(*p, expected_for("tiny-qwen2"));
  EXPECT_LT(diff, hf_logits_tolerance);
  std::printf("tiny-qwen2 max |logit diff| = %.3g\n", diff);
}

TEST(HfLogits, CappedSequenceLengthKeepsTheNumbers) {
  auto p = load(data_dir + "/tiny-qwen2", {/*max_seq_len=*/12});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config().max_seq_len, 12);
  EXPECT_LT(max_logit_diff(*p, expected_for("tiny-qwen2")), hf_logits_tolerance);
  EXPECT_TRUE(is(p->logits(std::vector<int32_t>(13, 1)).error(), errc::invalid_argument));
  EXPECT_TRUE(is(p->logits({384}).error(), errc::invalid_argument));
}

// The tolerance is tight enough to catch the mistakes a loader could make:
// each one, applied to a copy of a fixture, must fail the comparison.

TEST_F(HfCheckpoint, WrongRopeThetaFailsTheLogitComparison) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    const auto ref = expected_for(model);
    const auto dir = copy_of(model);
    const auto original = read_file(dir + "/config.json");
    const double theta = read_hf_config(dir)->rope_theta;
    for (double factor : {2.0, 0.5, 10.0, 0.1}) {
      set_config(dir, "rope_parameters",
                 "{\"rope_theta\": " + std::to_string(theta * factor)
                   + ", \"rope_type\": \"default\"}");
      auto p = load(dir);
      ASSERT_TRUE(p);
      ASSERT_EQ(p->config().rope_theta, theta * factor);
      const double diff = max_logit_diff(*p, ref);
      std::printf("%s rope_theta x%g: max |logit diff| = %.3g\n", model, factor, diff);
      EXPECT_GT(diff, hf_logits_tolerance) << model << " rope_theta x" << factor;
      write_file(dir + "/config.json", original);
    }
  }
}

TEST_F(HfCheckpoint, WrongNormEpsilonFailsTheLogitComparison) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    const auto ref = expected_for(model);
    const auto dir = copy_of(model);
    set_config(dir, "rms_norm_eps", "1e-05"); // the fixtures use 1e-6
    auto p = load(dir);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->config().rms_norm_eps, 1e-5);
    const double diff = max_logit_diff(*p, ref);
    std::printf("%s rms_norm_eps 1e-5: max |logit diff| = %.3g\n", model, diff);
    EXPECT_GT(diff, hf_logits_tolerance) << model;
  }
}

// q and k of one layer exchanged (q_proj's first heads take k_proj's rows:
// the fixtures use grouped-query attention, so k has half of q's rows).
TEST_F(HfCheckpoint, SwappedQueryAndKeyWeightsFailTheLogitComparison) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    const auto ref = expected_for(model);
    const auto dir = copy_of(model);
    auto tensors = read_all(dir + "/model.safetensors");
    auto find = [&](const std::string& name) {
      return std::find_if(tensors.begin(), tensors.end(),
                          [&](const stored_tensor& t) { return t.name == name; });
    };
    auto q = find("model.layers.0.self_attn.q_proj.weight");
    auto k = find("model.layers.0.self_attn.k_proj.weight");
    ASSERT_NE(q, tensors.end());
    ASSERT_NE(k, tensors.end());
    ASSERT_LE(k->bytes.size(), q->bytes.size());
    std::swap_ranges(k->bytes.begin(), k->bytes.end(), q->bytes.begin());
    write_all(dir + "/model.safetensors", tensors);
    auto p = load(dir);
    ASSERT_TRUE(p);
    const double diff = max_logit_diff(*p, ref);
    std::printf("%s q/k swapped in layer 0: max |logit diff| = %.3g\n", model, diff);
    EXPECT_GT(diff, hf_logits_tolerance) << model;
  }
}
