// hf_outputs.hpp: the Hugging Face copies of a run started from
// model.hf_path (models/hf_export.hpp says what a copy holds):
//   RUN_DIR/checkpoints/step-N/hf/   beside each checkpoint's weights.bin,
//                                    written by the recorder after the
//                                    checkpoint is durable
//   RUN_DIR/hf/                      beside weights.tndm, the final weights
// A run from random init (the built-in shape) gets none: `tandem export`
// writes its checkpoints as Hugging Face directories on demand.
//
// Thread safety: the exporter is immutable; the hook runs on the recorder's
// thread, write_final_hf on the head's.
#pragma once

#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/recorder.hpp"
#include "models/hf_export.hpp"
#include "runtime/file_system.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// The run's exporter; null without model.hf_path. Reads the input's
/// config.json, tensor dtypes and tokenizer files now.
caf::expected<std::shared_ptr<const hf_exporter>> make_hf_exporter(const run_config& cfg);

/// The recorder's hook: CKPT/hf from the checkpoint's weights.bin (empty
/// hook for a null exporter).
checkpoint_hook hf_checkpoint_hook(std::shared_ptr<const hf_exporter> exporter,
                                   std::shared_ptr<file_system> fs);

/// RUN_DIR/hf from RUN_DIR/weights.tndm (`weights`, read by the caller).
caf::error write_final_hf(const hf_exporter& exporter, file_system& fs,
                          const std::string& run_dir, const std::vector<char>& weights);

} // namespace tandem
