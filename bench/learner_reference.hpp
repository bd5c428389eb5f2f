// learner_reference.hpp: the PyTorch-eager side of `tandem bench learner`
// (bench_learner.hpp): writes the bench's model and batch where the reference
// script (tests/reference/torch_grpo_step.py) reads them, runs it as a child
// process and reads its figures back; and the first-step loss comparison.
//
// Files, in --workdir or a fresh /tmp/tandem-bench-learner-XXXXXX:
//   model/          Hugging Face checkpoint of the --shape weights (save_hf)
//   batch.bin       one JSON header line (settings, sizes), then little-endian
//                   int32 tokens [B, P+C], float32 behav [B, C], float32
//                   advantages [B]
//   reference.json  the script's result
//
// Thread safety: a command's helpers; one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "models/learner_core.hpp"

namespace tandem {

struct learner_bench_options {
  std::string shape = "qwen2-0.5b";
  std::string model_dir; // --model: a Hugging Face checkpoint instead of --shape
  int64_t batch_seqs = 64, prompt_len = 128, completion_len = 384;
  int64_t steps = 10, warmup = 2;
  std::string device = "cuda", precision = "bf16_autocast";
  int64_t micro_batch_tokens = 8192;
  bool checkpointing = false;
  double lr = 1e-6;
  int64_t seed = 1, threads = 0;
  std::string reference;
  int64_t reference_timeout_s = 600;
  std::string workdir;
};

/// Throughput and first-step numbers of one side. The reference reports its
/// mean step time only; tandem's side also has the median and range.
struct side_result {
  double tokens_per_s = 0, step_s = 0, first_loss = 0, first_grad_norm = 0;
  double step_s_min = 0, step_s_max = 0; // tandem's side: range of the timed steps
  std::string about; // versions and device, for the report
};

/// Runs the reference on `batch` with the weights of `s` (or --model) and
/// returns its figures.
caf::expected<side_result> run_learner_reference(const learner_bench_options& o,
                                                 const learner_settings& s,
                                                 const std::vector<train_sequence>& batch);

/// Prints the throughput ratio and whether the first-step losses agree within
/// the tolerance of the precision; true when they do.
bool print_comparison(const learner_bench_options& o, const side_result& mine,
                      const side_result& ref);

} // namespace tandem
