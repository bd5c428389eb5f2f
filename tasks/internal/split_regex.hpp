// split_regex.hpp: hand-written matchers for the pre-tokenizer regexes that
// byte-level BPE tokenizers use, in place of a regex engine.
//
// C++'s <regex> has no \p{..} classes, and a general engine is more than the
// tokenizer needs: real tokenizer.json files use one of three patterns. Each
// matcher reproduces what Oniguruma (tokenizers' engine) returns from
// find_iter for its exact pattern: leftmost-first alternation, greedy
// quantifiers with backtracking (e.g. `\s+(?!\S)` gives back the last
// whitespace character of a run that a non-space follows), \p{L} = L*,
// \p{N} = N*, \s = White_Space, and (?i:...) with Unicode simple case folding
// (so "'ſ" matches like "'s"). Patterns are recognised by exact text; any
// other pattern is refused by the caller, quoting it.
//
// Thread safety: stateless.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem {

enum class split_regex : unsigned char {
  /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  gpt2,
  /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
  /// | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  qwen2,
  /// As qwen2 with \p{N}{1,3} in place of \p{N}.
  llama3,
};

/// The regex's source text, as tokenizer.json spells it (after JSON unescaping).
std::string_view pattern_text(split_regex regex);

/// The known regex whose source is exactly `pattern`, if any.
std::optional<split_regex> recognise_split_regex(std::string_view pattern);

/// Byte ranges [first, second) of the successive non-overlapping matches in
/// well-formed UTF-8 `text`, as the engine's find_iter yields them. None of
/// the patterns matches the empty string.
std::vector<std::pair<size_t, size_t>> find_matches(split_regex regex, std::string_view text);

} // namespace tandem
