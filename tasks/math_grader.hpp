// math_grader.hpp: grades a completion's final answer against a reference
// answer, exactly (the built-in math reward; `tandem grade`). The verdict
// table tests/data/math_grader_cases.jsonl shows every rule on examples.
//
// grade() = extract the final answer, then compare it with the reference:
//   correct  = a final answer was extracted and answers_equal(it, reference)
//   format   = a well-formed final answer was extracted
//   reward   = weights.accuracy * correct + weights.format * format
//
// EXTRACTION (find_final_answer), in this order:
//   1. \boxed: the LAST "\boxed" (or "\fbox") in the completion decides. Its
//      argument is "{...}" with nested braces matched (a backslash escapes the
//      next character, so "\{" and "\}" do not count), or, after at least one
//      space, a bare token up to the next whitespace, '$', '{' or '}'
//      ("\boxed 5"; "\boxed5" is no answer).
//      Spaces between the command and '{' are allowed. If that last \boxed is
//      malformed (unbalanced braces, nothing after it) or empty, there is no
//      boxed answer: an earlier \boxed is NOT used (a truncated completion
//      must not score the answer it was revising).
//   2. Otherwise the answer tags: the content of the last "</answer>" and the
//      last "<answer>" before it (tags are case-sensitive).
//   The extracted text is that content with surrounding whitespace removed;
//   empty content counts as no answer. A caller whose prompt pre-fills
//   "<answer>" prepends it to the completion.
//
// COMPARISON (answers_equal): both texts are cleaned the same way, then
// compared as numbers when BOTH parse as numbers, else as normalised text.
//   Cleaning (repeated while it changes something, at most 16 rounds):
//     surrounding whitespace; surrounding "$...$", "$$...$$", "\(...\)",
//     "\[...\]"; a whole-text \boxed{..}, \fbox{..}, \text{..}, \textbf{..},
//     \textrm{..}, \textit{..}, \mathrm{..}, \mathbf{..}, \mbox{..}, {..}; a
//     trailing '.'; a leading "v =" where v is one or two ASCII letters
//     ("x = 5" -> "5"; only when the text holds a single '=').
//   Then, anywhere: \left \right \displaystyle \big.. dropped; \dfrac \tfrac
//   -> \frac; degrees ("^\circ", "^{\circ}", "\circ", "\degree", U+00B0)
//   dropped; "\$" dropped (currency); "\%" -> "%"; "{,}" -> ","; "\," between
//   digits -> "," else a space; "\;" "\:" "\ " "~" \quad \qquad, U+00A0,
//   U+2009, U+202F -> a space; "\!" dropped; U+2212 (minus sign) -> '-';
//   U+00D7 -> \times.
//   Numbers (parse_number), whitespace allowed between the parts:
//     [$] [+|-] [$] VALUE [%] [UNIT]
//     VALUE: DECIMAL | DECIMAL / DECIMAL | \frac A B | INTEGER \frac A B
//            (a mixed number: 2\frac{1}{2} = 5/2; "2 1/2" is not a number)
//     A, B:  {[+|-] DECIMAL} or one digit (\frac12)
//     DECIMAL: digits with an optional '.' part (".5", "5.", "1.50");
//       thousands separators ',' only in groups of exactly three after a first
//       group of one to three digits ("1,234,567.5"; "1,23" is not a number);
//       an exponent "e-3"/"E3" or "\times 10^{3}", "\cdot 10^3". No other
//       powers ("10^6", "2^{10}" are text) and no space separators ("1 000").
//     UNIT (ignored): words of two or more ASCII letters after a space
//       ("5 cm", "12 dollars", "3 km/h", "9 m^2" is not: one letter), or
//       \text{..} \mbox{..} \mathrm{..} \textrm{..} groups of letters
//       ("5\text{ cm}", "5 \mathrm{m}^2"). Words that change the value are
//       not units ("2 pi", "5 million", "hundred", "thousand", "billion",
//       "trillion", "dozen": not a number); the word "percent" is a '%'.
//     A zero denominator, a number of more than max_number_digits digits
//     (exponent included) or anything left over: not a number.
//   Percent: "50%" and "50\%" are 50 percent. Where only one side carries '%'
//     both readings are accepted: "50%" equals "50" and "0.5"; "0.5" does not
//     equal "50". Where both carry it, the numbers before '%' are compared.
//     parse_number("50%") is 1/2.
//   Numbers compare exactly as rationals: 0.5 == 1/2 == \frac{2}{4}, "1.0" ==
//     "1", "-0" == "0"; 0.333 != 1/3 (no tolerance).
//   Text (normalize_answer): the cleaned text with \text-family groups
//     unwrapped anywhere, whitespace dropped except one space between two
//     letters or digits ("x + 1" == "x+1", "New York" keeps its space), a lone
//     letter as "A", "(A)", "A)" or "A." read as that letter in lower case,
//     text of ASCII letters and spaces only compared in lower case. No
//     symbolic algebra: "\sqrt{2}/2" and "\frac{\sqrt2}{2}" differ. Unit words
//     are not compared ("5 apples" == "5 oranges"). Empty text equals nothing.
//
// BOUNDS: every step is a linear scan of its input (or a fixed number of
// them) with loops, never recursion, and no std::regex: a 2 KB completion
// grades in about a microsecond, 10 MB of adversarial text or 100k nested
// braces in well under a second (tests bound it at 0.5 s). Numbers are limited to max_number_digits digits, so
// an exact comparison costs at most ~O(max_number_digits^2 / 81) limb
// products; a longer number is compared as text. Bytes that are not UTF-8
// pass through as they are (only ASCII and the code points above are read).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tasks/internal/big_natural.hpp"
#include "tasks/reward_rules.hpp"

namespace tandem::math {

/// Digits (integer, fraction and exponent shift together) beyond which a
/// number is not parsed (compared as text instead).
inline constexpr size_t max_number_digits = 10000;

/// Where a final answer came from.
enum class answer_format { none, boxed, answer_tags };

/// "none", "boxed" or "answer_tags".
const char* to_string(answer_format f);

struct final_answer {
  std::string text;
  answer_format format = answer_format::none;
};

/// The completion's final answer (see EXTRACTION), or nullopt.
std::optional<final_answer> find_final_answer(std::string_view completion);

/// The text of find_final_answer().
std::optional<std::string> extract_final_answer(std::string_view completion);

/// An exact rational number: sign, numerator, denominator (never zero). Not
/// kept reduced; equality cross-multiplies.
class rational {
public:
  rational() = default; // zero
  static rational integer(int64_t v);
  /// nullopt when `den` is zero.
  static std::optional<rational> fraction(bool negative, internal::big_natural num,
                                          internal::big_natural den);

  bool negative() const { return negative_; }
  bool is_zero() const { return num_.is_zero(); }
  const internal::big_natural& numerator() const { return num_; }
  const internal::big_natural& denominator() const { return den_; }
  /// This value divided by `factor` (> 0).
  rational divided_by(uint64_t factor) const;
  /// "-3/4", "5": reduced when numerator and denominator are below 2^64,
  /// else as stored.
  std::string to_string() const;

  friend bool operator==(const rational& a, const rational& b);
  friend bool operator!=(const rational& a, const rational& b) { return !(a == b); }

private:
  bool negative_ = false; // false for zero
  internal::big_natural num_;
  internal::big_natural den_{1};
};

/// The number `text` denotes (see Numbers; a percent is divided by 100), or
/// nullopt when it is not one.
std::optional<rational> parse_number(std::string_view text);

/// The normalised text form compared when one side is not a number.
std::string normalize_answer(std::string_view text);

/// Whether two answers are the same (see COMPARISON).
bool answers_equal(std::string_view a, std::string_view b);

/// Accuracy and format weights, shared with the built-in rules (0.9 / 0.1).
using grade_weights = reward_weights;

struct grade_result {
  bool correct = false;
  std::optional<std::string> extracted;
  bool format = false;
  double reward = 0;
  answer_format source = answer_format::none;
};

/// Grades one completion against the reference `answer` (see the top).
grade_result grade(std::string_view completion, std::string_view answer,
                   const grade_weights& w = {});

} // namespace tandem::math
