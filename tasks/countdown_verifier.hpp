// countdown_verifier.hpp: the exact verifier of Countdown answers and the
// reward of a Countdown completion.
//
// Rules (those of the common Countdown RL setup, TinyZero's): the answer is an
// arithmetic expression over non-negative integer literals, the binary
// operators + - * / and parentheses; no unary minus or plus, no '='. Every
// given number is used exactly once: the multiset of literals equals the
// multiset of numbers. The expression is evaluated exactly over the rationals,
// so intermediate fractions are allowed ("6/4*2" makes 3 from 6, 4, 2); a
// division by zero or a value beyond int64 numerators/denominators makes the
// answer invalid. The answer is correct when its value equals the target.
//
// Bounds: an expression longer than countdown_max_expression_bytes or nested
// deeper than countdown_max_depth is refused before (resp. while) parsing, so
// a verdict costs O(min(n, bound)) and no input can exhaust the stack.
//
// The reference answer of a Countdown problem is the string
// "countdown:TARGET;N1,N2,..." (format_countdown_reference); tasks/reward_rules
// routes every reference with that prefix to score_countdown, so a Countdown
// task needs no other plumbing from the problem source to the reward.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/reward_rules.hpp"

namespace tandem {

enum class countdown_result {
  correct,     // uses every number once and equals the target
  wrong_value, // uses every number once, but its value is not the target
  bad_numbers, // a number used twice, missing, or not among the numbers
  invalid,     // division by zero, or a value out of range
  unparsable,  // not an expression of the grammar, or beyond the bounds
};

/// "correct", "wrong_value", "bad_numbers", "invalid", "unparsable".
const char* to_string(countdown_result r);

struct countdown_verdict {
  countdown_result result = countdown_result::unparsable;
  std::string reason; // why it is not correct ("" when correct)
  bool correct() const { return result == countdown_result::correct; }
};

/// Longest expression the verifier reads; four numbers with every pair of
/// parentheses need well under 100 bytes.
constexpr size_t countdown_max_expression_bytes = 256;
/// Deepest parenthesis nesting the parser follows.
constexpr int countdown_max_depth = 16;

/// Verdict on `expression` for reaching `target` from `numbers`, each number
/// used exactly once. Spaces, tabs and newlines between tokens are ignored.
countdown_verdict verify_countdown(std::string_view expression, int64_t target,
                                   const std::vector<int64_t>& numbers);

/// The text inside the last <answer>...</answer> pair of `completion`; when
/// no "<answer>" precedes the last "</answer>" (the prompt pre-filled it),
/// the text from the start to that "</answer>". Trimmed of white space.
/// nullopt when there is no "</answer>".
std::optional<std::string> extract_answer_tag(std::string_view completion);

/// What the verifier needs of a problem.
struct countdown_reference {
  int64_t target = 0;
  std::vector<int64_t> numbers;
};

/// Prefix that marks a reference answer as a Countdown reference.
constexpr std::string_view countdown_reference_prefix = "countdown:";

/// "countdown:98;44,19,35".
std::string format_countdown_reference(const countdown_reference& ref);

/// The inverse of format_countdown_reference; nullopt unless `text` is
/// exactly the prefix, a target, ';' and one or more comma-separated
/// numbers, each a decimal integer of at most 18 digits.
std::optional<countdown_reference> parse_countdown_reference(std::string_view text);

/// True when `reference` starts with countdown_reference_prefix.
bool is_countdown_reference(std::string_view reference);

/// The R1-style reward of a Countdown completion:
///   accuracy = 1 if extract_answer_tag(completion) is correct
///   format   = 1 if the completion is exactly "<expression></answer>" with a
///              parsable expression, optionally followed by "<eos>" when
///              `allow_eos_tag` (the char tokenizer's rendered end)
/// A malformed reference scores 0 (generated references are well formed).
reward_breakdown score_countdown(std::string_view completion, std::string_view reference,
                                 const reward_weights& weights, bool allow_eos_tag);

} // namespace tandem
