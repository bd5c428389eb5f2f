// prompt_checks.hpp: the rules of the prompt and schedule keys — task.format,
// task.prompt_template, task.system_prompt, task.max_prompt_tokens,
// sampler.top_k, learner.lr_schedule / warmup_steps / min_lr — reported at
// their FILE:LINE:COL like the other config checks (config_checks.hpp).
//
// check_prompt_settings also resolves the template into task.framing
// (prefix and suffix around the question) and sets task.framing.check:
// the math grader for gsm8k, and for jsonl with the r1 format; exact
// otherwise. With the built-in tokenizer and the r1 format it sets
// model.vocab_size to 81 (the char tokenizer's <think> and </think>).
//
// Thread safety: pure (no files are read here).
#pragma once

#include <cstdint>

#include "tasks/bpe_tokenizer.hpp"
#include "topology/internal/yaml_binder.hpp"
#include "topology/run_config.hpp"

namespace tandem::internal {

/// Checks the keys above and fills cfg.task.framing. Runs after the model
/// source and task.tokenizer are known, before the prompt-length rule.
void check_prompt_settings(run_config& cfg, binder_context& ctx);

/// A built-in template's special tokens must each be one token of the
/// run's tokenizer.json (`tok`); a custom template must encode.
void check_template_tokens(const run_config& cfg, const bpe_tokenizer& tok,
                           binder_context& ctx);

/// Upper bound of the tokens a prompt has besides its question: <bos>, the
/// template text (a byte at most one token, a built-in template's special
/// token one) and the answer tag (<answer> or task.answer_prefix) in the
/// answer format. Needs the framing resolved.
int64_t prompt_frame_tokens(const task_section& t, bool bpe);

} // namespace tandem::internal
