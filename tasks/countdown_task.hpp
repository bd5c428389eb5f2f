// countdown_task.hpp: Countdown problems generated from a seed.
//
// A problem gives 2..6 numbers and a target; the policy answers with an
// expression that uses every number exactly once with + - * / and
// parentheses (rules and verifier: tasks/countdown_verifier.hpp). The target
// is reachable by construction: it is the value of a random expression over
// the numbers whose every intermediate result is a positive integer no larger
// than max_target (the verifier itself also accepts fractions on the way).
//
//   question  "Use 44,19,35 to make 98:"
//   answer    "countdown:98;44,19,35"  (format_countdown_reference)
//
// Thread safety: one thread at a time (problem_source).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/problem.hpp"

namespace tandem {

struct countdown_config {
  int32_t min_numbers = 3; // numbers per problem, drawn in [min, max]
  int32_t max_numbers = 4;
  int64_t max_number = 100; // numbers lie in [1, max_number]
  int64_t max_target = 100; // targets (and intermediate results) lie in [1, max_target]
  uint64_t seed = 1;
};

/// One problem with the expression it was built from.
struct countdown_instance {
  std::vector<int64_t> numbers; // in the order the question lists them
  int64_t target = 0;
  std::string solution; // an expression that reaches the target, e.g. "(44+19)+35"
};

class countdown_task : public problem_source {
public:
  /// Checks a config: one issue per field that is out of range (field names
  /// as in the YAML task section: numbers, max_number, max_target).
  static std::vector<task_config_issue> check(const countdown_config& cfg);

  /// Rejects a config check() has issues with (errc::invalid_config).
  static caf::expected<std::unique_ptr<countdown_task>> make(const countdown_config& cfg);

  /// Bytes of the longest question `cfg` can produce.
  static int64_t longest_question_bytes(const countdown_config& cfg);

  /// The next problem with its construction (advances the stream as next()).
  countdown_instance next_instance();

  problem next() override;
  std::string describe() const override;

private:
  explicit countdown_task(const countdown_config& cfg);
  uint64_t draw(uint64_t bound); // uniform in [0, bound)
  int64_t draw_number();
  countdown_config cfg_;
  uint64_t state_;
  uint64_t count_ = 0;
};

/// The question text of an instance: "Use 44,19,35 to make 98:".
std::string countdown_question(const countdown_instance& inst);

} // namespace tandem
