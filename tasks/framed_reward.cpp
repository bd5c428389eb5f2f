// framed_reward.cpp: the answer and R1 formats' rules (framed_reward.hpp).
#include "tasks/framed_reward.hpp"

#include "tasks/countdown_verifier.hpp"
#include "tasks/math_grader.hpp"

namespace tandem {

namespace {

constexpr std::string_view think_open = "<think>";
constexpr std::string_view think_close = "</think>";
constexpr std::string_view answer_open = "<answer>";
constexpr std::string_view answer_close = "</answer>";
constexpr std::string_view eos_tag = "<eos>";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  return s;
}

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool contains(std::string_view s, std::string_view p) {
  return s.find(p) != std::string_view::npos;
}

bool has_answer_tag(std::string_view s) {
  return contains(s, answer_open) || contains(s, answer_close);
}

bool has_think_tag(std::string_view s) {
  return contains(s, think_open) || contains(s, think_close);
}

bool equal_by(answer_check check, std::string_view predicted, std::string_view reference) {
  return check == answer_check::math ? math::answers_equal(predicted, reference)
                                     : answers_match(predicted, reference);
}

// The answer format with the math check (framed_reward.hpp).
reward_breakdown score_math_answer(std::string_view text, std::string_view reference,
                                   const reward_weights& weights, bool allow_eos_tag) {
  reward_breakdown out;
  const size_t close = text.find(answer_close);
  if (close != std::string_view::npos) {
    const auto content = text.substr(0, close);
    const auto answer = rtrim(ltrim(content));
    const auto tail = text.substr(close + answer_close.size());
    out.accuracy = !answer.empty() && math::answers_equal(answer, reference) ? 1.0 : 0.0;
    const bool tidy = !content.empty() && !is_space(content.front()) && !is_space(content.back())
                      && !has_answer_tag(content) && !has_think_tag(content);
    out.format = tidy && (tail.empty() || (allow_eos_tag && tail == eos_tag)) ? 1.0 : 0.0;
  }
  out.total = weights.accuracy * out.accuracy + weights.format * out.format;
  return out;
}

reward_breakdown score_r1(std::string_view text, std::string_view reference,
                          const reward_weights& weights, answer_check check,
                          bool allow_eos_tag) {
  reward_breakdown out;
  out.format = r1_well_formed(text, allow_eos_tag) ? 1.0 : 0.0;
  if (auto answer = r1_answer(text)) {
    if (is_countdown_reference(reference))
      out.accuracy =
        score_countdown(*answer + std::string(answer_close), reference, weights, false).accuracy;
    else
      out.accuracy = equal_by(check, *answer, reference) ? 1.0 : 0.0;
  }
  out.total = weights.accuracy * out.accuracy + weights.format * out.format;
  return out;
}

} // namespace

bool r1_well_formed(std::string_view text, bool allow_eos_tag) {
  auto s = rtrim(text);
  if (allow_eos_tag && ends_with(s, eos_tag))
    s = rtrim(s.substr(0, s.size() - eos_tag.size()));
  s = ltrim(s);
  if (!starts_with(s, think_open))
    return false;
  s.remove_prefix(think_open.size());
  const size_t end_think = s.find(think_close);
  if (end_think == std::string_view::npos)
    return false;
  const auto thought = s.substr(0, end_think);
  if (contains(thought, think_open) || has_answer_tag(thought))
    return false;
  s = ltrim(s.substr(end_think + think_close.size()));
  if (!starts_with(s, answer_open))
    return false;
  s.remove_prefix(answer_open.size());
  const size_t end_answer = s.find(answer_close);
  if (end_answer == std::string_view::npos)
    return false;
  const auto answer = s.substr(0, end_answer);
  if (has_answer_tag(answer) || has_think_tag(answer) || ltrim(answer).empty())
    return false;
  return end_answer + answer_close.size() == s.size(); // s was right-trimmed
}

std::optional<std::string> r1_answer(std::string_view text) {
  const size_t close = text.rfind(answer_close);
  if (close == std::string_view::npos)
    return std::nullopt;
  const size_t open = text.rfind(answer_open, close);
  if (open == std::string_view::npos || open + answer_open.size() > close)
    return std::nullopt;
  const auto content = rtrim(ltrim(text.substr(open + answer_open.size(),
                                               close - open - answer_open.size())));
  if (content.empty())
    return std::nullopt;
  return std::string(content);
}

reward_breakdown score_framed(std::string_view text, std::string_view reference,
                              const reward_weights& weights, const task_framing& framing,
                              bool allow_eos_tag) {
  if (framing.format == task_format::answer) {
    if (framing.check == answer_check::math)
      return score_math_answer(text, reference, weights, allow_eos_tag);
    return allow_eos_tag ? score_completion(text, reference, weights)
                         : score_answer_text(text, reference, weights);
  }
  if (!think_prefilled(framing))
    return score_r1(text, reference, weights, framing.check, allow_eos_tag);
  std::string full;
  full.reserve(think_open.size() + text.size());
  full.append(think_open).append(text);
  return score_r1(full, reference, weights, framing.check, allow_eos_tag);
}

} // namespace tandem
