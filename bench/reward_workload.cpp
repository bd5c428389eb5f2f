// reward_workload.cpp: the bench's groups and their expected rewards
// (reward_workload.hpp).
#include "bench/reward_workload.hpp"

#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

using internal::uniform_below;
using variant = completion_variant;

std::string num(uint64_t v) {
  return std::to_string(v);
}

// --- table: the default run's problems ---------------------------------------

variant table_variant(uint64_t& rng) {
  auto p = uniform_below(rng, 100);
  return p < 40 ? variant::table_right
         : p < 50 ? variant::table_right_open
         : p < 80 ? variant::table_wrong
         : p < 90 ? variant::table_spaced
                  : variant::table_unfinished;
}

std::string table_completion(variant v, uint64_t answer, uint64_t& rng) {
  switch (v) {
    case variant::table_right:
      return num(answer) + "</answer><eos>";
    case variant::table_right_open:
      return num(answer) + "</answer>";
    case variant::table_wrong:
      return num(answer + 1 + uniform_below(rng, 9)) + "</answer><eos>";
    case variant::table_spaced:
      return " " + num(answer) + " </answer><eos>";
    default:
      return num(answer) + " " + num(uniform_below(rng, 10));
  }
}

// --- math: word problems with a few hundred bytes of reasoning ------------------

struct word_problem {
  std::string question;
  std::string reasoning; // never holds "\boxed" nor "</answer>"
  uint64_t answer = 0;
  std::string unit;
};

word_problem make_word_problem(uint64_t& rng) {
  word_problem w;
  auto a = 10 + uniform_below(rng, 90), b = 10 + uniform_below(rng, 90);
  if (uniform_below(rng, 2) == 0) {
    auto c = 1 + uniform_below(rng, a + b - 1);
    w.answer = a + b - c;
    w.unit = "loaves";
    w.question = "A baker makes " + num(a) + " loaves in the morning and " + num(b)
                 + " in the afternoon. She sells " + num(c)
                 + " of them. How many loaves are left?";
    w.reasoning = "In the morning the baker makes " + num(a) + " loaves, and in the afternoon "
                  + num(b) + " more, so she has $" + num(a) + " + " + num(b) + " = "
                  + num(a + b) + "$ loaves in total.\nShe then sells " + num(c)
                  + " of them, which leaves $" + num(a + b) + " - " + num(c) + " = "
                  + num(w.answer) + "$ loaves.\nChecking: $" + num(w.answer) + " + " + num(c)
                  + " = " + num(a + b) + "$, as it should be.\n";
  } else {
    auto h = 2 + uniform_below(rng, 5);
    w.answer = a * h + b;
    w.unit = "km";
    w.question = "A train runs at " + num(a) + " km per hour for " + num(h)
                 + " hours, then covers another " + num(b)
                 + " km. How far does it travel in all?";
    w.reasoning = "At " + num(a) + " km per hour for " + num(h) + " hours the train covers $"
                  + num(a) + " \\times " + num(h) + " = " + num(a * h)
                  + "$ km.\nAdding the last stretch of " + num(b) + " km gives $" + num(a * h)
                  + " + " + num(b) + " = " + num(w.answer) + "$ km.\nChecking: $"
                  + num(w.answer) + " - " + num(b) + " = " + num(a * h) + "$ and $\\frac{"
                  + num(a * h) + "}{" + num(h) + "} = " + num(a) + "$, which matches.\n";
  }
  static const char* asides[] = {
    "Let me make sure I read the question correctly before going on.\n",
    "Nothing else in the question changes the count, so this is complete.\n",
    "I could also set this up as an equation, but the arithmetic is direct.\n",
  };
  for (auto k = uniform_below(rng, 4); k > 0; --k)
    w.reasoning += asides[uniform_below(rng, 3)];
  return w;
}

variant math_variant(uint64_t& rng) {
  auto p = uniform_below(rng, 100);
  return p < 40 ? variant::math_right
         : p < 55 ? variant::math_equivalent
         : p < 85 ? variant::math_wrong
                  : variant::math_unfinished;
}

std::string math_completion(variant v, const word_problem& w, uint64_t& rng) {
  std::string text = "Let me work through this step by step.\n" + w.reasoning;
  switch (v) {
    case variant::math_right:
      return text + "So the answer is $\\boxed{" + num(w.answer) + "}$.";
    case variant::math_equivalent: {
      auto form = uniform_below(rng, 3);
      auto boxed = form == 0   ? num(w.answer) + ".0"
                   : form == 1 ? "\\frac{" + num(2 * w.answer) + "}{2}"
                               : num(w.answer) + " \\text{ " + w.unit + "}";
      return text + "So the answer is $\\boxed{" + boxed + "}$.";
    }
    case variant::math_wrong:
      return text + "So the answer is $\\boxed{" + num(w.answer + 1 + uniform_below(rng, 9))
             + "}$.";
    default: // cut off mid-reasoning, as a completion at max_new_tokens
      return text.substr(0, text.size() / 2 + uniform_below(rng, text.size() / 2));
  }
}

std::vector<int32_t> bytes_of(std::string_view s) {
  std::vector<int32_t> ids;
  ids.reserve(s.size());
  for (unsigned char c : s)
    ids.push_back(c);
  return ids;
}

void add_completion(rollout_group& g, const std::string& text) {
  completion_record c;
  c.tokens = bytes_of(text);
  // What a sampler sends along (the reward actor copies it into its reply).
  c.logprobs.assign(c.tokens.size(), -0.5f);
  c.versions.assign(c.tokens.size(), 0);
  c.finished = true;
  g.completions.push_back(std::move(c));
}

} // namespace

reward_workload make_reward_workload(int64_t groups, int32_t group_size, uint64_t seed) {
  reward_workload w;
  uint64_t rng = seed;
  double prompt_bytes = 0, completion_bytes = 0;
  for (int64_t i = 0; i < groups; ++i) {
    rollout_group g;
    g.group_id = static_cast<uint64_t>(i);
    g.problem_id = static_cast<uint64_t>(i);
    g.sampler = "bench";
    word_problem wp;
    uint64_t answer = 0;
    bool math = i % 2 == 1;
    if (math) {
      wp = make_word_problem(rng);
      answer = wp.answer;
      g.prompt = bytes_of("Question: " + wp.question
                          + " Reason step by step and put the final answer in \\boxed{}.\n");
    } else {
      auto a = uniform_below(rng, 100), b = uniform_below(rng, 100);
      answer = a + b;
      g.prompt = bytes_of("<bos>" + num(a) + "+" + num(b) + "=<answer>");
    }
    g.answer = num(answer);
    for (int32_t k = 0; k < group_size; ++k) {
      auto v = math ? math_variant(rng) : table_variant(rng);
      add_completion(g, math ? math_completion(v, wp, rng)
                             : table_completion(v, answer, rng));
      w.variants.push_back(v);
      prompt_bytes += static_cast<double>(g.prompt.size());
      completion_bytes += static_cast<double>(g.completions.back().tokens.size());
    }
    w.groups.push_back(std::move(g));
  }
  auto n = static_cast<double>(w.variants.empty() ? 1 : w.variants.size());
  w.prompt_bytes = prompt_bytes / n;
  w.completion_bytes = completion_bytes / n;
  return w;
}

double expected_reward(reward_scorer_kind kind, completion_variant v, const reward_weights& w) {
  auto total = [&](double accuracy, double format) {
    return w.accuracy * accuracy + w.format * format;
  };
  switch (kind) {
    case reward_scorer_kind::rules:
      return v == variant::table_right || v == variant::table_right_open ? total(1, 1)
             : v == variant::table_wrong                                 ? total(0, 1)
             : v == variant::table_spaced                                ? total(1, 0)
                                                                         : total(0, 0);
    case reward_scorer_kind::math:
      return v == variant::math_right || v == variant::math_equivalent ? total(1, 1)
             : v == variant::math_wrong                                ? total(0, 1)
                                                                       : total(0, 0);
    case reward_scorer_kind::plugin:
      return v == variant::table_right || v == variant::table_right_open
                 || v == variant::table_spaced
               ? 1.0
               : 0.0;
  }
  return 0;
}

double plugin_rule(std::string_view completion, std::string_view answer) {
  auto said = completion.substr(0, completion.find("</answer>"));
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!said.empty() && space(said.front()))
    said.remove_prefix(1);
  while (!said.empty() && space(said.back()))
    said.remove_suffix(1);
  return said == answer ? 1.0 : 0.0;
}

caf::expected<std::vector<int32_t>> byte_tokenizer::encode(std::string_view text) const {
  return bytes_of(text);
}

std::string byte_tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (auto id : ids)
    out.push_back(static_cast<char>(id));
  return out;
}

caf::expected<std::vector<int32_t>> byte_tokenizer::prompt_ids(std::string_view question) const {
  return encode(std::string(question) + "<answer>");
}

reward_breakdown byte_tokenizer::score(const std::vector<int32_t>& completion,
                                       std::string_view reference,
                                       const reward_weights& weights) const {
  return score_completion(decode(completion), reference, weights);
}

} // namespace tandem
