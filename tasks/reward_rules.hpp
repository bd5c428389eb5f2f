// reward_rules.hpp: R1-style rule-based reward (accuracy + format).
//
// The completion text is what the policy generated after the prompt, decoded
// with the special tokens rendered as tags. Because the prompt pre-fills
// "<answer>", a well-formed completion is  <integer></answer>  optionally
// followed by <eos>.
//   format   = 1 if the completion is exactly that shape, else 0
//   accuracy = 1 if the text before the first "</answer>" (trimmed of spaces)
//              parses as an integer equal to the reference answer, else 0
//   total    = accuracy_weight * accuracy + format_weight * format
// A Countdown reference ("countdown:...", tasks/countdown_verifier.hpp) is
// scored by the Countdown verifier instead, with the same weights.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tandem {

struct reward_weights {
  double accuracy = 0.9;
  double format = 0.1;
  // Partial credit for a wrong integer answer: digit_credit x the share of
  // digits that match the reference aligned at the units (digit_match).
  // 0 = off. Accuracy stays exact; only the total carries the credit.
  double digit_credit = 0;
};

struct reward_breakdown {
  double total = 0;
  double accuracy = 0;
  double format = 0;
};

/// The answer inside the completion, or "" if there is none.
std::string extract_answer(std::string_view completion);

/// Integer comparison ("7" == "+7", "-0" == "0"); non-integers compare as
/// trimmed strings. A reference written with leading zeros ("07", the
/// arithmetic task's task.answer_width) fixes the width: the prediction must
/// have as many digits ("07" matches, "7" and "007" do not).
bool answers_match(std::string_view predicted, std::string_view reference);

/// Share of digit positions, aligned at the units, where two integers agree,
/// over the longer one's digit count ("7" vs "17": 0.5; "19" vs "17": 0.5;
/// "117" vs "17": 2/3). Signs must agree; 0 when either is not an integer.
/// Against a fixed-width reference ("07") the digits are compared as written
/// ("7" vs "07": 0.5; "17" vs "07": 0.5).
double digit_match(std::string_view predicted, std::string_view reference);

reward_breakdown score_completion(std::string_view completion,
                                  std::string_view reference,
                                  const reward_weights& weights);

/// The same rule for a completion whose end is not part of its text (a
/// BPE completion, decoded up to but not including its stop token): format
/// is 1 only for exactly  <integer></answer>  (no "<eos>" tag: in BPE text
/// that would be five characters the policy spelled, not an end).
reward_breakdown score_answer_text(std::string_view text, std::string_view reference,
                                   const reward_weights& weights);

} // namespace tandem
