// added_tokens.hpp: finds a tokenizer's added tokens (special or not) in text
// before pre-tokenization, as tokenizers' AddedVocabulary::find_matches does.
//
// Matching is leftmost-longest over the token contents (tokenizers uses an
// Aho-Corasick automaton with MatchKind::LeftmostLongest): scanning left to
// right, the first position where some token starts wins, and there the
// longest token. lstrip / rstrip widen a match over the whitespace
// (White_Space) before / after it; an lstrip never reaches back into the
// previous match, and a token that starts inside whitespace an rstrip took
// is not matched. Candidates are bucketed by first byte, longest first; real
// files have tens to a few hundred added tokens, so this is fast enough.
//
// Thread safety: immutable after building; split() is safe from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

class added_token_matcher {
public:
  struct pattern {
    std::string text;
    int32_t id = 0;
    bool lstrip = false;
    bool rstrip = false;
  };
  /// A piece of the input: an added token (id >= 0) or plain text (id < 0).
  struct piece {
    std::string_view text;
    int32_t id;
  };

  /// Adds a token to look for; `text` must be non-empty UTF-8.
  void add(pattern p);
  bool empty() const { return patterns_.empty(); }

  /// Splits well-formed UTF-8 `text` into non-empty pieces covering it.
  std::vector<piece> split(std::string_view text) const;

private:
  std::vector<pattern> patterns_;
  std::array<std::vector<uint32_t>, 256> by_first_byte_; // longest first
  const pattern* longest_at(std::string_view text, size_t i) const;
};

} // namespace tandem
