// math_grader.cpp: final-answer extraction, exact rationals and grade(); the
// text rules live in tasks/internal/answer_text.*, the number grammar in
// tasks/internal/answer_number.*. Rules: tasks/math_grader.hpp.
#include "tasks/math_grader.hpp"

#include <numeric>

#include "tasks/internal/answer_number.hpp"
#include "tasks/internal/answer_text.hpp"

namespace tandem::math {

namespace {

using answer_text::is_letter;
using answer_text::is_space;
using internal::big_natural;

constexpr std::string_view box_commands[] = {"\\boxed", "\\fbox"};
constexpr std::string_view open_tag = "<answer>";
constexpr std::string_view close_tag = "</answer>";

// The index just past the last \boxed or \fbox (one not continued by a
// letter, so "\boxedx" is another command), or npos. One backward scan.
size_t after_last_box(std::string_view s) {
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] != '\\')
      continue;
    for (auto cmd : box_commands) {
      const size_t end = i + cmd.size();
      if (s.compare(i, cmd.size(), cmd) == 0 && (end == s.size() || !is_letter(s[end])))
        return end;
    }
  }
  return std::string_view::npos;
}

// The argument of the box command ending at `at`: "{...}" or a bare token
// after a space; nullopt when malformed or empty.
std::optional<std::string_view> box_argument(std::string_view s, size_t at) {
  size_t i = at;
  while (i < s.size() && is_space(s[i]))
    ++i;
  std::string_view arg;
  if (i < s.size() && s[i] == '{') {
    const size_t close = answer_text::closing_brace(s, i);
    if (close == std::string_view::npos)
      return std::nullopt;
    arg = s.substr(i + 1, close - i - 1);
  } else if (i > at) {
    size_t end = i;
    while (end < s.size() && !is_space(s[end]) && s[end] != '$' && s[end] != '{'
           && s[end] != '}')
      ++end;
    arg = s.substr(i, end - i);
  }
  arg = answer_text::trim(arg);
  if (arg.empty())
    return std::nullopt;
  return arg;
}

std::optional<std::string_view> tagged_answer(std::string_view s) {
  const size_t close = s.rfind(close_tag);
  if (close == std::string_view::npos)
    return std::nullopt;
  const size_t open = s.substr(0, close).rfind(open_tag);
  if (open == std::string_view::npos)
    return std::nullopt;
  const auto inner = answer_text::trim(
    s.substr(open + open_tag.size(), close - open - open_tag.size()));
  if (inner.empty())
    return std::nullopt;
  return inner;
}

bool quantities_equal(const answer_text::quantity& a, const answer_text::quantity& b) {
  if (a.percent == b.percent)
    return a.value == b.value;
  const auto& with = a.percent ? a : b;
  const auto& without = a.percent ? b : a;
  return with.value == without.value || with.value.divided_by(100) == without.value;
}

} // namespace

const char* to_string(answer_format f) {
  switch (f) {
    case answer_format::boxed:
      return "boxed";
    case answer_format::answer_tags:
      return "answer_tags";
    case answer_format::none:
      break;
  }
  return "none";
}

std::optional<final_answer> find_final_answer(std::string_view completion) {
  if (const size_t at = after_last_box(completion); at != std::string_view::npos)
    if (auto arg = box_argument(completion, at))
      return final_answer{std::string{*arg}, answer_format::boxed};
  if (auto inner = tagged_answer(completion))
    return final_answer{std::string{*inner}, answer_format::answer_tags};
  return std::nullopt;
}

std::optional<std::string> extract_final_answer(std::string_view completion) {
  auto found = find_final_answer(completion);
  if (!found)
    return std::nullopt;
  return std::move(found->text);
}

// --- rational ------------------------------------------------------------------

rational rational::integer(int64_t v) {
  // Magnitude without negating INT64_MIN.
  const uint64_t magnitude = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v)
                                   : static_cast<uint64_t>(v);
  rational r;
  r.negative_ = v < 0;
  r.num_ = big_natural{magnitude};
  return r;
}

std::optional<rational> rational::fraction(bool negative, big_natural num, big_natural den) {
  if (den.is_zero())
    return std::nullopt;
  rational r;
  r.negative_ = negative && !num.is_zero();
  r.num_ = std::move(num);
  r.den_ = std::move(den);
  return r;
}

rational rational::divided_by(uint64_t factor) const {
  rational r = *this;
  r.den_ = den_ * big_natural{factor};
  return r;
}

std::string rational::to_string() const {
  std::string sign = negative_ ? "-" : "";
  const auto n = num_.to_uint64();
  const auto d = den_.to_uint64();
  if (n && d) {
    const uint64_t g = std::gcd(*n, *d);
    const uint64_t rn = *n / g;
    const uint64_t rd = *d / g;
    return sign + std::to_string(rn) + (rd == 1 ? "" : "/" + std::to_string(rd));
  }
  const big_natural one{1};
  return sign + num_.to_decimal() + (den_ == one ? "" : "/" + den_.to_decimal());
}

bool operator==(const rational& a, const rational& b) {
  if (a.negative_ != b.negative_)
    return false;
  return a.num_ * b.den_ == b.num_ * a.den_;
}

// --- comparison ------------------------------------------------------------------

std::optional<rational> parse_number(std::string_view text) {
  auto q = answer_text::scan_quantity(answer_text::clean_answer(text));
  if (!q)
    return std::nullopt;
  return q->percent ? q->value.divided_by(100) : q->value;
}

std::string normalize_answer(std::string_view text) {
  return answer_text::text_form(answer_text::clean_answer(text));
}

bool answers_equal(std::string_view a, std::string_view b) {
  const std::string clean_a = answer_text::clean_answer(a);
  const std::string clean_b = answer_text::clean_answer(b);
  const auto qa = answer_text::scan_quantity(clean_a);
  const auto qb = answer_text::scan_quantity(clean_b);
  if (qa && qb)
    return quantities_equal(*qa, *qb);
  const std::string ta = answer_text::text_form(clean_a);
  return !ta.empty() && ta == answer_text::text_form(clean_b);
}

grade_result grade(std::string_view completion, std::string_view answer,
                   const grade_weights& w) {
  grade_result r;
  if (auto found = find_final_answer(completion)) {
    r.format = true;
    r.source = found->format;
    r.correct = answers_equal(found->text, answer);
    r.extracted = std::move(found->text);
  }
  r.reward = w.accuracy * (r.correct ? 1.0 : 0.0) + w.format * (r.format ? 1.0 : 0.0);
  return r;
}

} // namespace tandem::math
