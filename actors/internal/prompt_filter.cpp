// prompt_filter.cpp: bounded drawing of admissible prompts.
#include "actors/internal/prompt_filter.hpp"

#include <algorithm>
#include <string>

#include "runtime/error.hpp"

namespace tandem {

caf::expected<prompt_filter::drawn>
prompt_filter::draw(problem_cursor& problems, const text_tokenizer& tok, uint64_t& skipped) {
  uint64_t too_long = 0, shortest = UINT64_MAX;
  for (uint64_t attempt = 0; attempt < max_attempts_; ++attempt) {
    auto p = problems.next();
    auto ids = tok.prompt_ids(p.question);
    if (!ids) {
      ++skipped;
      continue;
    }
    if (max_tokens_ > 0 && ids->size() > max_tokens_) {
      ++dropped_;
      ++too_long;
      shortest = std::min<uint64_t>(shortest, ids->size());
      continue;
    }
    return drawn{std::move(p), std::move(*ids)};
  }
  std::string why = std::to_string(max_attempts_) + " problems in a row gave no usable prompt";
  if (too_long > 0)
    why += ": " + std::to_string(too_long) + " were longer than the prompt limit of "
           + std::to_string(max_tokens_) + " tokens (the shortest had "
           + std::to_string(shortest)
           + "; raise task.max_prompt_tokens or model.max_seq_len, or shorten the prompt "
             "template)";
  if (too_long < max_attempts_)
    why += (too_long > 0 ? "; " : ": ") + std::to_string(max_attempts_ - too_long)
           + " could not be encoded by the tokenizer";
  return make_error(errc::invalid_config, std::move(why));
}

uint64_t prompt_filter::take_interval() {
  const uint64_t n = dropped_ - reported_;
  reported_ = dropped_;
  return n;
}

} // namespace tandem
