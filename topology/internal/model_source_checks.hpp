// model_source_checks.hpp: the rules of the model and where it comes from,
// reported at the config's FILE:LINE:COL like the other config checks
// (config_checks.hpp). Without model.hf_path the model section's shape is
// checked as written; with it, the checkpoint's config.json gives the shape
// (model.max_seq_len, when set, caps the sequence length). task.tokenizer
// names a tokenizer.json whose vocabulary must fit the model (or, with a
// random init, sets model.vocab_size) and which must know task.stop_tokens.
//
// Thread safety: pure apart from reading the filesystem (model.hf_path,
// task.tokenizer).
#pragma once

#include <string>

#include "topology/internal/config_checker.hpp"
#include "topology/run_config.hpp"

namespace tandem::internal {

/// The model section, or the checkpoint at model.hf_path (resolved against
/// `base_dir`), whose shape replaces it.
void check_model_source(run_config& c, const std::string& base_dir, checker& k);

/// task.tokenizer (resolved against `base_dir`) and the keys only a
/// tokenizer.json uses; required with model.hf_path.
void check_tokenizer(run_config& c, const std::string& base_dir, checker& k);

} // namespace tandem::internal
