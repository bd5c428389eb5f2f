// problem.hpp: one verifiable problem and the interface of problem sources.
#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace tandem {

struct problem {
  uint64_t id = 0;       // stable within a run: the i-th problem drawn
  std::string question;  // e.g. "37+45="
  std::string answer;    // canonical answer, e.g. "82"
};

/// A setting of a generated task that is out of range: `field` is its key in
/// the YAML task section ("numbers", "digits", ...), so that the config checks
/// report it at its place in the file.
struct task_config_issue {
  std::string field;
  std::string message;
};

/// An endless, deterministic stream of problems.
/// Thread safety: one thread at a time.
class problem_source {
public:
  virtual ~problem_source() = default;
  /// The next problem. Deterministic given the construction arguments.
  virtual problem next() = 0;
  /// Short description for logs ("arithmetic 0..9 [+-]", "jsonl data.jsonl (512 rows)").
  virtual std::string describe() const = 0;
};

} // namespace tandem
