// jsonl_dataset.hpp: problems from a JSONL file of {"prompt": ..., "answer": ...},
// or of GSM8K rows {"question": ..., "answer": "... #### 42"}.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/problem.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {

/// What a row holds.
enum class jsonl_schema : uint8_t {
  /// "prompt" (string) and "answer" (string or number), the answer as it is.
  prompt_answer,
  /// GSM8K: "question" (string) and "answer" (string): a worked solution
  /// whose final answer follows the last "####" (gsm8k_final_answer).
  gsm8k,
};

/// The final answer of a GSM8K solution: the text after its last "####",
/// trimmed, with thousands commas removed ("#### 1,250" -> "1250"); nullopt
/// when there is no "####" or nothing after it.
std::optional<std::string> gsm8k_final_answer(std::string_view solution);

/// Every problem of the JSONL file at `path` that jsonl_dataset::load
/// would refuse, one "PATH:LINE: field 'F': problem" (or "PATH:LINE: bad
/// JSON: ...") per bad line, in line order, all of them (load reports the
/// first 20); an unreadable or empty file is one "PATH: ..." entry. Empty
/// when load would accept the file. For `tandem validate`.
std::vector<std::string> check_jsonl_file(const std::string& path, const text_tokenizer& tok,
                                          jsonl_schema schema = jsonl_schema::prompt_answer);

/// Loads every line at construction. Each line must be a JSON object with
/// the fields of `schema` (other fields are ignored); blank lines are
/// skipped. Errors name file:line and the field (errc::invalid_config).
/// Prompts must be encodable by `tok`. Rows are served in an order shuffled
/// deterministically by `seed`, reshuffled every epoch.
class jsonl_dataset : public problem_source {
public:
  static caf::expected<std::unique_ptr<jsonl_dataset>>
  load(const std::string& path, const text_tokenizer& tok, uint64_t seed,
       jsonl_schema schema = jsonl_schema::prompt_answer);

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
  jsonl_schema schema_ = jsonl_schema::prompt_answer;
  std::vector<problem> rows_;
  std::vector<size_t> order_;
  size_t pos_ = 0;
  uint64_t rng_ = 0;
  uint64_t count_ = 0;
  void reshuffle();
};

} // namespace tandem
