// hf_export.hpp: a policy weight blob (policy::export_weights order, the
// bytes of weights.bin and weights.tndm) written as a complete Hugging Face
// directory, torch-free, shaped like the checkpoint the run started from.
//
//   OUT/config.json          the input's config.json, byte for byte (the
//                            shape does not change in training)
//   OUT/model.safetensors    every parameter under the input's tensor name
//                            ("model.X", "lm_head.weight"; none with tied
//                            embeddings, as the input), in the input's
//                            dtype (F32 / F64 exact; BF16 / F16 rounded to
//                            nearest even), one file, metadata format=pt
//   OUT/<tokenizer files>    copied: task.tokenizer as tokenizer.json, then
//                            whichever of tokenizer.json,
//                            tokenizer_config.json, special_tokens_map.json,
//                            vocab.json, merges.txt, added_tokens.json and
//                            generation_config.json sit in the input
//                            directory or beside task.tokenizer (the input
//                            directory wins; tokenizer_config.json holds the
//                            chat template)
//
// Atomic: write() fills a sibling OUT.tmp-hf directory through the
// file_system (every file fsynced), fsyncs it, moves an existing OUT aside
// to OUT.old-hf, renames OUT.tmp-hf to OUT, fsyncs the parent and removes
// the old one. A crash leaves OUT complete (old or new) or missing with a
// .tmp-hf / .old-hf sibling; readers never see a half-written OUT. The
// next write() removes leftovers.
//
// The source files are read once, by make() (so a moved input fails at
// the start of a run, not at its first checkpoint); write() only writes.
//
// Thread safety: an hf_exporter is immutable after make(); write() may run
// on any thread (concurrent writes to the same OUT race).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "models/hf_checkpoint.hpp"
#include "models/model_config.hpp"
#include "runtime/safetensors.hpp"

namespace tandem {

class file_system;

/// The policy's parameters in weight-blob order (the registration order of
/// models/internal/transformer.cpp) under their tandem names, with shapes.
std::vector<hf_tensor_spec> policy_tensor_specs(const model_config& cfg);

/// Where an export copies from.
struct hf_export_source {
  model_config model;         // the policy's shape: the blob's layout
  std::string hf_dir;         // the input checkpoint (model.hf_path)
  std::string tokenizer_path; // task.tokenizer; "" = none
};

class hf_exporter {
public:
  /// Reads the input's config.json, its tensor dtypes (model.safetensors or
  /// the shards of its index) and the tokenizer files. errc::io_failure
  /// naming a file that cannot be read; errc::malformed_message when the
  /// input's tensors are not the policy's (names, shapes, float dtypes).
  static caf::expected<hf_exporter> make(const hf_export_source& src);

  /// Writes `weights` (policy_tensor_specs order, float32) to OUT as above.
  /// errc::invalid_argument for a blob of the wrong size; errc::io_failure
  /// naming the file or step that failed (OUT is then as it was, or
  /// missing after a failure between the two renames).
  caf::error write(file_system& fs, const std::vector<char>& weights,
                   const std::string& out) const;

  /// The files write() produces, in order.
  std::vector<std::string> file_names() const;

  /// Tensor dtypes, in policy_tensor_specs order.
  const std::vector<st_dtype>& dtypes() const { return dtypes_; }

private:
  hf_exporter() = default;
  caf::error fill(file_system& fs, const std::vector<char>& weights,
                  const std::string& dir) const;

  std::vector<hf_tensor_spec> specs_;
  std::vector<st_dtype> dtypes_;
  // config.json and the tokenizer files: name in OUT, bytes.
  std::vector<std::pair<std::string, std::vector<char>>> copies_;
};

} // namespace tandem
