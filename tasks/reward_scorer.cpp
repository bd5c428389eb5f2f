// reward_scorer.cpp: the math scorer and the reply parsers.
#include "tasks/reward_scorer.hpp"

#include <cmath>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/math_grader.hpp"

namespace tandem {

caf::expected<std::vector<double>> math_scorer::score(const std::vector<score_item>& batch) {
  std::vector<double> out;
  out.reserve(batch.size());
  for (auto& it : batch)
    out.push_back(math::grade(it.completion, it.answer, weights_).reward);
  return out;
}

namespace {

caf::expected<double> finite_number(const json_value& v, const char* what) {
  auto n = v.as_number();
  if (!n)
    return make_error(errc::malformed_message,
                      std::string(what) + " is a " + v.type_name() + ", not a number");
  if (!std::isfinite(n->value))
    return make_error(errc::malformed_message, std::string(what) + " is not finite");
  return n->value;
}

std::string excerpt(std::string_view s) {
  constexpr size_t max = 120;
  return std::string(s.substr(0, max)) + (s.size() > max ? "..." : "");
}

} // namespace

caf::expected<std::vector<double>> parse_rewards_reply(std::string_view body, size_t count) {
  auto doc = parse_json(body, "reward reply");
  if (!doc)
    return make_error(errc::malformed_message,
                      "reward reply is not JSON: " + describe(doc.error()) + " (body: '"
                        + excerpt(body) + "')");
  auto rewards = doc->find("rewards");
  auto arr = rewards ? rewards->as_array() : nullptr;
  if (!arr)
    return make_error(errc::malformed_message,
                      "reward reply has no \"rewards\" array (body: '" + excerpt(body) + "')");
  if (arr->size() != count)
    return make_error(errc::malformed_message,
                      "reward reply has " + std::to_string(arr->size()) + " rewards for "
                        + std::to_string(count) + " completions");
  std::vector<double> out;
  for (auto& v : *arr) {
    auto x = finite_number(v, "a reward");
    if (!x)
      return x.error();
    out.push_back(*x);
  }
  return out;
}

caf::expected<double> parse_reward_line(std::string_view line) {
  auto doc = parse_json(line, "reward line");
  if (!doc)
    return make_error(errc::malformed_message,
                      "reward line is not JSON: '" + excerpt(line) + "'");
  auto r = doc->find("reward");
  if (!r)
    return make_error(errc::malformed_message,
                      "reward line has no \"reward\": '" + excerpt(line) + "'");
  return finite_number(*r, "\"reward\"");
}

} // namespace tandem
