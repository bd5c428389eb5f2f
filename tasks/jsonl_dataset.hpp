// jsonl_dataset.hpp: problems from a JSONL file of {"prompt": ..., "answer": ...}.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tasks/problem.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {

/// Loads every line at construction. Each line must be a JSON object with
/// string fields "prompt" and "answer" (other fields are ignored); blank lines
/// are skipped. Errors name file:line and the field (errc::invalid_config).
/// Prompts must be encodable by `tok`. Rows are served in an order shuffled
/// deterministically by `seed`, reshuffled every epoch.
class jsonl_dataset : public problem_source {
public:
  static caf::expected<std::unique_ptr<jsonl_dataset>>
  load(const std::string& path, const text_tokenizer& tok, uint64_t seed);

  problem next() override;
  std::string describe() const override;
  size_t size() const;
  /// Every row in file order, unshuffled (ids are next()'s to assign).
  const std::vector<problem>& rows() const { return rows_; }
  /// The row with the longest prompt (for checking it fits the model).
  const problem& longest_prompt() const;

private:
  jsonl_dataset() = default;
  std::string path_;
  std::vector<problem> rows_;
  std::vector<size_t> order_;
  size_t pos_ = 0;
  uint64_t rng_ = 0;
  uint64_t count_ = 0;
  void reshuffle();
};

} // namespace tandem
