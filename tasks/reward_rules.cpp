// reward_rules.cpp: R1-style rule-based reward.
//
// Integers are compared as canonical digit strings (sign, leading zeros and
// "-0" normalised), never parsed into a machine integer, so any length is
// exact. Accuracy needs a "</answer>" and a non-empty answer before it; it is
// answers_match(extracted, reference), which for the integer references of the
// arithmetic task is exactly "parses as an integer equal to the reference".
//
// A Countdown reference ("countdown:TARGET;N1,N2,...", never an integer) is
// not compared as a string: score() hands it to score_countdown
// (tasks/countdown_verifier.hpp), which verifies the expression exactly.
#include "tasks/reward_rules.hpp"

#include <algorithm>
#include <optional>

#include "tasks/countdown_verifier.hpp"

namespace tandem {

namespace {

constexpr std::string_view close_tag = "</answer>";
constexpr std::string_view eos_tag = "<eos>";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
           || c == '\v';
  };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

// "[+-]digits" -> "-123" / "123" / "0"; nullopt if not an integer.
std::optional<std::string> canonical_integer(std::string_view s) {
  s = trim(s);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty())
    return std::nullopt;
  for (char c : s)
    if (!is_digit(c))
      return std::nullopt;
  while (s.size() > 1 && s.front() == '0')
    s.remove_prefix(1);
  if (s == "0")
    negative = false;
  return (negative ? "-" : "") + std::string{s};
}

// ^-?[0-9]+</answer>(<eos>)?$, without the <eos> alternative unless allowed.
bool well_formed(std::string_view s, bool allow_eos_tag) {
  if (!s.empty() && s.front() == '-')
    s.remove_prefix(1);
  size_t digits = 0;
  while (digits < s.size() && is_digit(s[digits]))
    ++digits;
  if (digits == 0)
    return false;
  s.remove_prefix(digits);
  if (s.substr(0, close_tag.size()) != close_tag)
    return false;
  s.remove_prefix(close_tag.size());
  return s.empty() || (allow_eos_tag && s == eos_tag);
}

reward_breakdown score(std::string_view completion, std::string_view reference,
                       const reward_weights& weights, bool allow_eos_tag) {
  if (is_countdown_reference(reference))
    return score_countdown(completion, reference, weights, allow_eos_tag);
  reward_breakdown out;
  const auto predicted = extract_answer(completion);
  out.accuracy = !predicted.empty() && answers_match(predicted, reference) ? 1.0 : 0.0;
  out.format = well_formed(completion, allow_eos_tag) ? 1.0 : 0.0;
  out.total = weights.accuracy * out.accuracy + weights.format * out.format;
  if (out.accuracy == 0 && weights.digit_credit > 0 && !predicted.empty())
    out.total += weights.digit_credit * digit_match(predicted, reference);
  return out;
}

} // namespace

std::string extract_answer(std::string_view completion) {
  const auto pos = completion.find(close_tag);
  if (pos == std::string_view::npos)
    return {};
  return std::string{trim(completion.substr(0, pos))};
}

namespace {

// The digits of an integer as written, without sign or surrounding space.
std::string_view written_digits(std::string_view s) {
  s = trim(s);
  if (!s.empty() && (s.front() == '+' || s.front() == '-'))
    s.remove_prefix(1);
  return s;
}

// A reference such as "07" fixes the answer's width.
bool fixed_width(std::string_view reference) {
  const auto d = written_digits(reference);
  return d.size() > 1 && d.front() == '0';
}

} // namespace

bool answers_match(std::string_view predicted, std::string_view reference) {
  auto p = canonical_integer(predicted);
  auto r = canonical_integer(reference);
  if (p && r)
    return *p == *r
           && (!fixed_width(reference)
               || written_digits(predicted).size() == written_digits(reference).size());
  if (p || r)
    return false; // an integer never equals a non-integer
  return trim(predicted) == trim(reference);
}

double digit_match(std::string_view predicted, std::string_view reference) {
  auto p = canonical_integer(predicted);
  auto r = canonical_integer(reference);
  if (!p || !r || (p->front() == '-') != (r->front() == '-'))
    return 0;
  std::string_view a = *p, b = *r;
  if (a.front() == '-')
    a.remove_prefix(1), b.remove_prefix(1);
  if (fixed_width(reference))
    a = written_digits(predicted), b = written_digits(reference);
  size_t same = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    same += a[a.size() - 1 - i] == b[b.size() - 1 - i] ? 1 : 0;
  return static_cast<double>(same) / static_cast<double>(std::max(a.size(), b.size()));
}

reward_breakdown score_completion(std::string_view completion,
                                  std::string_view reference,
                                  const reward_weights& weights) {
  return score(completion, reference, weights, true);
}

reward_breakdown score_answer_text(std::string_view text, std::string_view reference,
                                   const reward_weights& weights) {
  return score(text, reference, weights, false);
}

} // namespace tandem
