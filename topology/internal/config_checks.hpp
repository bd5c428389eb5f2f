// config_checks.hpp: range and consistency rules of a bound run_config.
//
// Runs after binding; reports into the same binder_context so that every
// problem of a file is collected. Each issue sits at the field that most
// needs changing. Also resolves task.path, task.tokenizer and model.hf_path
// against the config's directory, replaces the model shape with the
// checkpoint's (model.hf_path) and sets model.vocab_size from the checkpoint
// or the tokenizer.json (left 0 for the built-in tokenizer).
//
// Thread safety: pure apart from reading the filesystem (task.path,
// task.tokenizer, model.hf_path).
#pragma once

#include <string>

#include "topology/internal/yaml_binder.hpp"
#include "topology/run_config.hpp"

namespace tandem::internal {

/// Checks `cfg`; `base_dir` is the directory of the config file ("" = cwd).
void check_run_config(run_config& cfg, const std::string& base_dir,
                      binder_context& ctx);

/// Bytes of the longest arithmetic question: digits(max) + op + digits(max) + '='.
int64_t longest_arithmetic_question_bytes(int64_t max_operand);

/// Tokens of the longest arithmetic prompt:
///   <bos> + digits(max) + op + digits(max) + '=' + <answer>.
int64_t longest_arithmetic_prompt(int64_t max_operand);

} // namespace tandem::internal
