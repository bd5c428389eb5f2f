// multidigit_task.hpp: integer arithmetic on operands of a given number of
// digits, generated from a seed.
//
// Unlike arithmetic_task, whose operands are uniform over [min, max] (so
// nearly all of 0..99999 have five digits), each operand first draws its
// digit count from [min_digits, max_digits] and then a value with exactly
// that many digits: "3+84721=" is as likely a shape as "84721+3=".
//
//   question  "4718*93="     answer  "438774"  (negative results as "-8")
//
// Answers are exact int64: check() refuses digit counts whose results could
// overflow (9 digits with '*', 18 with only + and -).
//
// Thread safety: one thread at a time (problem_source).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/problem.hpp"

namespace tandem {

struct multidigit_config {
  int32_t min_digits = 2; // digits per operand, drawn in [min, max]
  int32_t max_digits = 5;
  std::string ops = "+";  // any of "+-*"
  uint64_t seed = 1;
};

class multidigit_task : public problem_source {
public:
  /// Checks a config: one issue per field that is out of range (field names
  /// as in the YAML task section: digits, ops).
  static std::vector<task_config_issue> check(const multidigit_config& cfg);

  /// Rejects a config check() has issues with (errc::invalid_config).
  static caf::expected<std::unique_ptr<multidigit_task>> make(const multidigit_config& cfg);

  /// Bytes of the longest question `cfg` can produce.
  static int64_t longest_question_bytes(const multidigit_config& cfg);

  problem next() override;
  std::string describe() const override;

private:
  explicit multidigit_task(const multidigit_config& cfg);
  uint64_t draw(uint64_t bound); // uniform in [0, bound)
  int64_t draw_operand();
  multidigit_config cfg_;
  uint64_t state_;
  uint64_t count_ = 0;
};

} // namespace tandem
