// arithmetic_task.hpp: integer arithmetic problems generated from a seed.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "tasks/problem.hpp"

namespace tandem {

struct arithmetic_config {
  int64_t min_operand = 0;
  int64_t max_operand = 9;
  std::string ops = "+";  // any of "+-*"
  uint64_t seed = 1;
  /// 0: answers as written ("7", "12"). N > 0: every answer has exactly N
  /// digits, zero-padded ("07", "12"), and only that spelling is correct
  /// (a reference with leading zeros fixes the width, see reward_rules.hpp).
  /// Fixed-width answers make every fact the same shape: on the 0..9 table
  /// the policy no longer settles on one-digit answers before it has ever
  /// sampled a two-digit one (README, "Learning the 0..9 table").
  int64_t answer_width = 0;
};

/// Digits of the widest result the config can produce (|a op b| over the
/// operand range), so answer_width can be checked against it.
int64_t widest_arithmetic_result_digits(const arithmetic_config& cfg);

/// `value` written with at least `width` digits, zero-padded after the sign.
std::string pad_integer(int64_t value, int64_t width);

/// Questions look like "37+45=", answers "82" (negative results as "-8").
/// The same config yields the same sequence on every platform (the generator
/// and the draw are specified in arithmetic_task.cpp, no std distributions).
class arithmetic_task : public problem_source {
public:
  /// Rejects empty/unknown ops, min > max, negative operands.
  static caf::expected<std::unique_ptr<arithmetic_task>>
  make(const arithmetic_config& cfg);

  problem next() override;
  std::string describe() const override;

private:
  explicit arithmetic_task(const arithmetic_config& cfg);
  uint64_t draw(uint64_t bound); // uniform in [0, bound)
  arithmetic_config cfg_;
  uint64_t state_;
  uint64_t count_ = 0;
};

} // namespace tandem
