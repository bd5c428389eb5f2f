// plan_test: the per-GPU memory model of topology/plan.hpp against numbers
// computed by hand from its documented formulas, and the refusal of a
// placement that cannot fit (load_run, as every command sees it).
#include "topology/plan.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "topology/run_loader.hpp"
#include "tests/runtime/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tandem;

namespace {

constexpr int64_t mib = int64_t{1} << 20;
constexpr double gib = double(int64_t{1} << 30);

// Defaults: h 64, L 2, heads 4 (head_dim 16), kv 2, ffn 176, seq 64;
// 16 groups x 8 = 128 rows per step, one mini-batch.
run_config small_run() {
  run_config cfg;
  cfg.model.vocab_size = 100;
  return cfg;
}
// P = V*h 6400 + 2 layers * 46208 + final norm 64 + lm_head 6400.
constexpr int64_t small_p = 6400 + 2 * 46208 + 64 + 6400;

// Per layer and token: a = 4h + 2q + 2kv + 4ffn = 256 + 128 + 64 + 704.
constexpr int64_t small_a = 1152;

// A Llama-2-7B-like shape (the issue's "6.5B model").
run_config llama7b_run() {
  run_config cfg;
  auto& m = cfg.model;
  m.vocab_size = 32000;
  m.hidden_size = 4096;
  m.num_layers = 32;
  m.num_heads = 32;
  m.num_kv_heads = 32;
  m.intermediate_size = 11008;
  m.max_seq_len = 2048;
  cfg.run.groups_per_step = 32;
  cfg.run.group_size = 16; // 512 rows per step
  cfg.learner.precision = "bf16_autocast";
  cfg.learner.activation_checkpointing = true;
  cfg.learner.micro_batch_tokens = 16384; // 8 rows of 2048
  return cfg;
}

} // namespace

TEST(MemoryModel, ParameterCountFollowsTheLayoutsTandemSupports) {
  auto m = small_run().model;
  EXPECT_EQ(parameter_count(m), small_p);
  m.attention_bias = true; // q 64 + k, v 2 * 32 per layer
  EXPECT_EQ(parameter_count(m), small_p + 2 * 128);
  // Qwen3: head_dim 32 set apart from hidden / heads, q/k norms of 32 each.
  m.attention_bias = false;
  m.head_dim = 32;
  m.qk_norm = true;
  // per layer: q,o 2*64*128 + k,v 2*64*64 + MLP 3*64*176 + norms 128 + q/k norms 64
  const int64_t layer = 16384 + 8192 + 33792 + 128 + 64;
  EXPECT_EQ(parameter_count(m), 6400 + 2 * layer + 64 + 6400);
  // Llama-2-7B: 6,738,415,616 parameters.
  EXPECT_EQ(parameter_count(llama7b_run().model), 6738415616);
}

TEST(MemoryModel, LearnerStateShardsWithRanksAndZeroStage) {
  auto cfg = small_run();
  const int64_t p = small_p;
  auto e = estimate_memory(cfg);
  EXPECT_EQ(e.weights, 4 * p);
  EXPECT_EQ(e.grads, 4 * p);
  EXPECT_EQ(e.optimizer, 8 * p);
  EXPECT_EQ(e.reference, 0);
  EXPECT_EQ(e.weight_casts, 0);
  EXPECT_EQ(e.nccl_copy, 0);
  for (int n : {2, 8}) {
    SCOPED_TRACE(n);
    cfg.learner.ranks = n;
    cfg.learner.zero_stage = 0; // replicated: .grad views the flat gradient, 16P in all
    e = estimate_memory(cfg);
    EXPECT_EQ(e.grads + e.optimizer, 12 * p);
    EXPECT_EQ(e.weight_shard, 0);
    for (int z : {1, 2}) { // AdamW sharded, plus the update's weight shard
      SCOPED_TRACE(z);
      cfg.learner.zero_stage = z;
      e = estimate_memory(cfg);
      EXPECT_EQ(e.grads, 4 * p); // stage 2 keeps the full flat gradient too (for now)
      EXPECT_EQ(e.optimizer, (8 * p + n - 1) / n);
      EXPECT_EQ(e.weight_shard, (4 * p + n - 1) / n);
      EXPECT_EQ(e.weights, 4 * p); // master weights stay on every rank
      // docs/data-parallel.md's table: 8 + 12/N bytes per parameter.
      EXPECT_NEAR(double(e.weights + e.grads + e.optimizer + e.weight_shard) / p, 8 + 12.0 / n,
                  1e-6);
    }
  }
  cfg.learner.grpo.kl_beta = 0.01;
  EXPECT_EQ(estimate_memory(cfg).reference, 4 * p);
  EXPECT_EQ(estimate_memory(cfg, true).nccl_copy, 4 * p);
}

TEST(MemoryModel, ActivationsCountOneMicroBatchOfOneRank) {
  auto cfg = small_run();
  // fp32, no checkpointing: T * L * a * 4 + T * V * (4 + 4).
  auto act = [](int64_t t) { return t * 2 * small_a * 4 + t * 100 * 8; };
  auto e = estimate_memory(cfg);
  EXPECT_EQ(e.tokens, 128 * 64); // N = 1: the whole mini-batch
  EXPECT_EQ(e.activations, act(128 * 64));
  cfg.learner.ranks = 2; // each rank gets 64 rows
  EXPECT_EQ(estimate_memory(cfg).activations, act(64 * 64));
  cfg.learner.ranks = 8; // 16 rows
  EXPECT_EQ(estimate_memory(cfg).activations, act(16 * 64));
  cfg.learner.ranks = 1;
  cfg.learner.mini_batches = 3; // ceil(128 / 3) = 43 rows, the largest chunk
  EXPECT_EQ(estimate_memory(cfg).tokens, 43 * 64);
  cfg.learner.mini_batches = 1;
  cfg.learner.micro_batch_tokens = 256; // gradient accumulation: 4 rows at a time
  EXPECT_EQ(estimate_memory(cfg).activations, act(256));
  cfg.learner.ranks = 8;
  cfg.learner.micro_batch_tokens = 4096; // more than a rank's 1024: the share bounds it
  EXPECT_EQ(estimate_memory(cfg).tokens, 1024);
}

TEST(MemoryModel, Bf16AutocastHalvesActivationsAndAddsTheWeightCasts) {
  auto cfg = small_run();
  cfg.learner.precision = "bf16_autocast";
  const int64_t t = 128 * 64;
  auto e = estimate_memory(cfg);
  EXPECT_EQ(e.weights, 4 * small_p); // fp32 master weights
  EXPECT_EQ(e.weight_casts, 2 * small_p);
  EXPECT_EQ(e.activations, t * 2 * small_a * 2 + t * 100 * (2 + 4));
}

TEST(MemoryModel, CheckpointingKeepsLayerInputsAndOneLayer) {
  auto cfg = small_run();
  cfg.learner.activation_checkpointing = true;
  const int64_t t = 128 * 64;
  // fp32: T*L*h*4 (layer inputs) + T*a*4 (one layer) + T*V*8.
  EXPECT_EQ(estimate_memory(cfg).activations, t * 2 * 64 * 4 + t * small_a * 4 + t * 100 * 8);
  cfg.learner.precision = "bf16_autocast"; // the residual stream stays fp32
  EXPECT_EQ(estimate_memory(cfg).activations, t * 2 * 64 * 4 + t * small_a * 2 + t * 100 * 6);
}

TEST(MemoryModel, SamplerWeightsAndKvCacheFollowTheSamplerDtype) {
  auto cfg = small_run();
  // KV: 2 * L 2 * kv 2 * head_dim 16 * seq 64 * (4 groups * 8 rows) * 4 B
  auto e = estimate_memory(cfg);
  EXPECT_EQ(e.sampler_weights, 4 * small_p);
  EXPECT_EQ(e.kv_cache, 2 * 2 * 2 * 16 * 64 * 32 * 4);
  cfg.sampler.dtype = "bfloat16";
  e = estimate_memory(cfg);
  EXPECT_EQ(e.sampler_weights, 2 * small_p);
  EXPECT_EQ(e.kv_cache, 2 * 2 * 2 * 16 * 64 * 32 * 2);
}

TEST(MemoryModel, SevenBillionOnEightRanksWithZero2NeedsSmallerMicroBatchesForEightyGigabytes) {
  auto cfg = llama7b_run();
  cfg.learner.ranks = 8;
  cfg.learner.zero_stage = 2;
  auto e = estimate_memory(cfg);
  const int64_t p = 6738415616;
  // States: 4P + 2P (bf16 casts) + 4P (.grad in the flat gradient) + 8P/8
  // + 4P/8 (weight shard) = 11.5P = 72.2 GiB.
  EXPECT_EQ(e.weights + e.weight_casts + e.grads + e.optimizer + e.weight_shard,
            4 * p + 2 * p + 4 * p + p + p / 2);
  // T = 16384: inputs 8.0 GiB + one layer 2.3 GiB + logits 2.9 GiB.
  EXPECT_EQ(e.tokens, 16384);
  EXPECT_NEAR(double(e.activations) / gib, 13.27, 0.01);
  EXPECT_NEAR(double(e.learner()) / gib, 85.4, 0.1);
  // 4096 tokens per micro-batch: a quarter of the activations, and it fits.
  cfg.learner.micro_batch_tokens = 4096;
  EXPECT_NEAR(double(estimate_memory(cfg).learner()) / gib, 75.5, 0.1);
  // One rank without sharding: 18P + activations, far past 80 GiB.
  cfg.learner.micro_batch_tokens = 16384;
  cfg.learner.ranks = 1;
  cfg.learner.zero_stage = 0;
  EXPECT_NEAR(double(estimate_memory(cfg).learner()) / gib, 126.2, 0.1);
}

// --- refusal --------------------------------------------------------------------

namespace {

// The 7B shape on one node with two 80 GiB GPUs: the learner on gpu:0.
std::string seven_b_file(int ranks, int zero_stage) {
  std::string devices = ranks == 1 ? "[0]" : "[0, 1, 2, 3, 4, 5, 6, 7]";
  return "run:\n  groups_per_step: 32\n  group_size: 16\n"
         "model:\n  hidden_size: 4096\n  num_layers: 32\n  num_heads: 32\n"
         "  num_kv_heads: 32\n  intermediate_size: 11008\n  max_seq_len: 2048\n"
         "learner:\n  device: cuda\n  precision: bf16_autocast\n"
         "  activation_checkpointing: true\n  micro_batch_tokens: 16384\n"
         "  ranks: " + std::to_string(ranks) + "\n"
         + (zero_stage > 0 ? "  zero_stage: " + std::to_string(zero_stage) + "\n" : "")
         + (ranks > 1 ? "  grad_bucket_mb: 25\n" : "")
         + "sampler:\n  device: cuda\n  dtype: bfloat16\n  groups_per_request: 1\n"
           "cluster:\n  nodes:\n    - name: box\n      host: 127.0.0.1\n      gpus: 9\n"
           "      gpu_memory_mb: 81920\n"
           "  groups:\n    - role: controller\n      placements: [{node: box}]\n"
           "    - role: learner\n      placements: [{node: box, devices: " + devices + "}]\n"
           "    - role: broadcaster\n      placements: [{node: box}]\n"
           "    - role: reward\n      placements: [{node: box}]\n"
           "    - role: sampler\n      placements: [{node: box, devices: [8]}]\n";
}

class PlanFiles : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("tandem_plan_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { tandem::test::remove_tree(dir_); }
  std::string write(const std::string& text) {
    auto p = (dir_ / "run.yaml").string();
    std::ofstream(p) << text;
    return p;
  }
  fs::path dir_;
};

} // namespace

TEST_F(PlanFiles, OneRankOfTheSevenBillionShapeIsRefusedNamingTheNumbers) {
  auto path = write(seven_b_file(1, 0));
  auto run = load_run(path);
  ASSERT_EQ(run.issues.size(), 1u) << run.issues[0].to_string();
  const auto& i = run.issues[0];
  EXPECT_EQ(i.file, path);
  EXPECT_EQ(i.field, "cluster.nodes[0].gpu_memory_mb");
  EXPECT_EQ(i.line, 26); // the gpu_memory_mb line of the file
  EXPECT_GT(i.column, 0);
  // The char tokenizer's vocabulary, not 32000: P = 6,476,x M, 4P = 24.1 GiB.
  EXPECT_NE(i.message.find("learner rank 0 on node box gpu:0 needs 1"), std::string::npos)
    << i.message;
  EXPECT_NE(i.message.find("(weights 24.1 GiB, bf16 casts 12.1 GiB, grads 24.1 GiB, "
                           "AdamW 48.3 GiB, activations "),
            std::string::npos)
    << i.message;
  EXPECT_NE(i.message.find(") > gpu_memory_mb 81920 (80.0 GiB)"), std::string::npos)
    << i.message;
  EXPECT_TRUE(run.resolved); // `tandem plan` still prints the table
  EXPECT_NE(format_plan(make_plan(run.cluster, run.config)).find("error: learner rank 0"),
            std::string::npos);
}

TEST_F(PlanFiles, EightRanksWithZero2FitAndThePlanShowsEachRanksBreakdown) {
  auto run = load_run(write(seven_b_file(8, 2)));
  ASSERT_TRUE(run.ok()) << run.issues[0].to_string();
  auto plan = make_plan(run.cluster, run.config);
  ASSERT_EQ(plan.devices.size(), 9u);
  EXPECT_EQ(plan.devices[7].holder, "learner rank 7");
  EXPECT_EQ(plan.devices[7].bytes, plan.memory.learner());
  EXPECT_LT(plan.devices[7].bytes, plan.devices[7].capacity);
  const auto text = format_plan(plan);
  EXPECT_NE(text.find("device box gpu:3: learner rank 3, "), std::string::npos) << text;
  EXPECT_NE(text.find("8 rank(s), zero_stage 2, 16384 tokens per micro-batch"),
            std::string::npos)
    << text;
  EXPECT_EQ(text.find("error:"), std::string::npos) << text;
}

TEST(MemoryModel, RefusalMessageNamesHolderNodeDeviceAndNumbers) {
  device_load d{"trainer", "gpu:1", int64_t(93.2 * gib), 81920 * mib, 81920,
                "learner rank 1", "weights 26.0 GiB, grads 26.0 GiB"};
  EXPECT_TRUE(d.over());
  EXPECT_EQ(refusal_message(d), "learner rank 1 on node trainer gpu:1 needs 93.2 GiB "
                                "(weights 26.0 GiB, grads 26.0 GiB) > gpu_memory_mb 81920 "
                                "(80.0 GiB)");
  d.capacity = d.capacity_mb = 0; // unknown memory: nothing to refuse
  EXPECT_FALSE(d.over());
}
