// prompt_groups.hpp: which rows of a generation batch carry the same prompt,
// so that the generators (decode_session, batch_generator) run each distinct
// prompt through the model once and fork its KV cache into the other rows
// (docs/shared-prefill.md).
//
// Rows are grouped by equality of their token ids, not by position: a
// sampler lays a group's G completions out next to each other, but two
// groups with the same prompt, or a reordered batch, group just as well.
//
// Thread safety: pure functions. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem {

struct prompt_groups {
  /// Per distinct prompt, in order of first appearance: its first row (the
  /// row whose prefill the others copy).
  std::vector<size_t> first;
  /// Per row: the index into `first` of its prompt.
  std::vector<size_t> of;

  size_t distinct() const { return first.size(); }
  /// Whether row `i` is the one its group prefills.
  bool leads(size_t i) const { return first[of[i]] == i; }
};

/// Groups `prompts` by equal token ids.
prompt_groups group_prompts(const std::vector<std::vector<int32_t>>& prompts);

/// Every row its own group (shared prefill off): first = of = 0..n-1.
prompt_groups distinct_rows(size_t n);

} // namespace tandem
