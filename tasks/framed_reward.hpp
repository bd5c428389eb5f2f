// framed_reward.hpp: the rule-based reward of a completion under a task's
// framing (tasks/prompt_template.hpp): today's answer format, or the R1
// format where the policy thinks before it answers.
//
// answer format (the prompt pre-fills "<answer>"):
//   exact check  exactly score_completion / score_answer_text
//                (tasks/reward_rules.hpp), Countdown references included
//   math check   accuracy = the text before the first "</answer>" (trimmed,
//                not empty) equals the reference by math::answers_equal;
//                format   = that text is not empty, has no white space at
//                either end and no answer tag, and "</answer>" ends the
//                completion (or "</answer><eos>" where allow_eos_tag)
// r1 format (nothing pre-filled, or "<think>" when think_prefilled):
//   format   = 1 only for exactly
//                ws* <think> T </think> ws* <answer> A </answer> ws* [<eos>]
//              where T holds no <think>, <answer> or </answer> (it may be
//              empty), A holds no tag and is not blank, ws is white space
//              (space, tab, CR, LF), and "<eos>" is allowed only where
//              allow_eos_tag (the char tokenizer's rendered end)
//   accuracy = r1_answer(text) (the content of the LAST <answer>...</answer>
//              pair, trimmed) compared with the reference: integers
//              canonically for the exact check (reward_rules'
//              answers_match), the math grader for the math check; a
//              Countdown reference is verified by the Countdown verifier
//   When the template pre-fills "<think>", it is put back in front of the
//   completion before these rules apply.
//   total = weights.accuracy * accuracy + weights.format * format
//
// Bounds: each rule is a fixed number of substring searches over the text
// (linear time, no std::regex, no recursion).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tasks/prompt_template.hpp"
#include "tasks/reward_rules.hpp"

namespace tandem {

/// Whether `text` has exactly the R1 shape (see the top).
bool r1_well_formed(std::string_view text, bool allow_eos_tag);

/// The trimmed content of the last "<answer>...</answer>" pair of `text`;
/// nullopt when there is no such pair or its content is blank.
std::optional<std::string> r1_answer(std::string_view text);

/// The reward of `text` (the decoded completion) under `framing`.
reward_breakdown score_framed(std::string_view text, std::string_view reference,
                              const reward_weights& weights, const task_framing& framing,
                              bool allow_eos_tag);

} // namespace tandem
