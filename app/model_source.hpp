// model_source.hpp: the CHECKPOINT argument of `tandem generate` and
// `tandem eval` — a policy and what is known of the run that made it.
//
//   RUN_DIR/checkpoints/step-N   a checkpoint: its config.yaml builds the
//                                model (random-init shape, or model.hf_path's
//                                checkpoint, or its own hf/ copy when
//                                present), then its weights.bin goes in
//   RUN_DIR                      its newest valid checkpoint (invalid newer
//                                ones named on stderr and skipped)
//   HF_DIR                       config.json + safetensors (tandem export,
//                                RUN_DIR/hf, a checkpoint's hf/, any Llama
//                                or Qwen2 checkpoint); when its parent holds
//                                a config.yaml (a run's or checkpoint's
//                                copy), that run's config comes with it
//
// Errors: errc::invalid_argument for a path that is none of these (the
// commands exit 2); the loaders' own errors otherwise.
//
// Thread safety: call from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/expected.hpp>

#include "models/policy.hpp"
#include "runtime/cli_flags.hpp"
#include "topology/run_config.hpp"

namespace tandem {

struct model_source {
  std::unique_ptr<policy> model;
  std::optional<run_config> run; // the run's effective config, when known
  std::string hf_dir;            // set for an HF_DIR
  int64_t version = -1;          // the checkpoint's step (-1 for an HF_DIR)
  std::string what;              // the directory the weights came from
};

/// Loads `path`; an HF_DIR's sequence length is `hf_max_seq_len` (0: its
/// max_position_embeddings).
caf::expected<model_source> load_model_source(const std::string& path, int32_t hf_max_seq_len);

/// Whether `path` is an HF_DIR without a run's config beside it.
bool is_bare_hf_dir(const std::string& path);

/// A flag declared as text whose absence means "the run's value": its
/// number, strictly parsed (cli_flags.hpp's rules) and within [min, max]
/// (integral when `integer`); nullopt when absent; errc::invalid_argument
/// naming the flag otherwise.
caf::expected<std::optional<double>> optional_number(const command_line& cl,
                                                     const std::string& flag, double min,
                                                     double max, bool integer);

/// The eos token an HF_DIR names (tokenizer_config.json's "eos_token", a
/// string or {"content": ...}); "" when it names none.
std::string hf_eos_token(const std::string& hf_dir);

} // namespace tandem
