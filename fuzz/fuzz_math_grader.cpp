// fuzz_math_grader: arbitrary bytes as a completion and a reference answer
// through the math grader (tasks/math_grader.hpp): extraction (\boxed{},
// <answer> tags), number parsing (big integers, fractions, decimals,
// percents, LaTeX), normalisation and comparison. The input is split at its
// first NUL byte: completion before, reference after. Checked: grading
// never crashes, and answers_equal is reflexive on numbers it parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tasks/math_grader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.find('\0');
  std::string_view completion = all.substr(0, cut);
  std::string_view reference = cut == std::string_view::npos ? all : all.substr(cut + 1);
  auto g = tandem::math::grade(completion, reference);
  (void) tandem::math::to_string(g.source);
  (void) tandem::math::normalize_answer(completion);
  if (auto r = tandem::math::parse_number(reference))
    (void) r->to_string();
  (void) tandem::math::answers_equal(reference, completion);
  if (auto r = tandem::math::parse_number(completion); r && completion.size() < 512
      && !tandem::math::answers_equal(completion, completion))
    std::abort(); // a number that is not equal to itself
  return 0;
}
