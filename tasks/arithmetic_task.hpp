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
};

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
