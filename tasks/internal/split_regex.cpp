// split_regex.cpp: the matchers declared in split_regex.hpp.
//
// The text is decoded once into code points with a class bit set each; a
// matcher then tries the pattern's alternatives in order at each position,
// working in code point indices. The comment above each step names the
// alternative it implements and how backtracking resolves it.
#include "tasks/internal/split_regex.hpp"

#include <algorithm>
#include <cstdint>

#include "tasks/internal/unicode.hpp"

namespace tandem {

namespace {

constexpr std::string_view gpt2_pattern =
  R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view qwen2_pattern =
  R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view llama3_pattern =
  R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum char_class : uint8_t {
  letter = 1,     // \p{L}
  number = 2,     // \p{N}
  space = 4,      // \s
  other = 8,      // [^\s\p{L}\p{N}]
  line_break = 16 // [\r\n] (also space)
};

class matcher {
public:
  matcher(split_regex regex, std::string_view text) : regex_(regex) {
    for (size_t i = 0; i < text.size();) {
      offsets_.push_back(i);
      const char32_t cp = unicode::next_code_point(text, i);
      cps_.push_back(cp);
      classes_.push_back(classify(cp));
    }
    offsets_.push_back(text.size());
    n_ = cps_.size();
  }

  std::vector<std::pair<size_t, size_t>> run() const {
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t i = 0; i < n_;) {
      const size_t end = regex_ == split_regex::gpt2 ? match_gpt2(i) : match_qwen_family(i);
      if (end > i) {
        out.emplace_back(offsets_[i], offsets_[end]);
        i = end;
      } else {
        ++i; // unreachable for these patterns (every character is L, N, \s or other)
      }
    }
    return out;
  }

private:
  split_regex regex_;
  std::vector<char32_t> cps_;
  std::vector<uint8_t> classes_;
  std::vector<size_t> offsets_; // byte offset of each code point, plus the end
  size_t n_ = 0;

  static uint8_t classify(char32_t cp) {
    if (cp == '\r' || cp == '\n')
      return space | line_break;
    if (unicode::is_white_space(cp))
      return space;
    if (unicode::is_letter(cp))
      return letter;
    if (unicode::is_number(cp))
      return number;
    return other;
  }

  bool has(size_t i, uint8_t cls) const {
    return i < n_ && (classes_[i] & cls) != 0;
  }

  // First index at or after i whose class is not in `cls`.
  size_t run_end(size_t i, uint8_t cls) const {
    while (has(i, cls))
      ++i;
    return i;
  }

  // ASCII letter at i equal to lower-case `c`, case-folded when asked; under
  // simple case folding 's' also matches U+017F LATIN SMALL LETTER LONG S.
  bool letter_at(size_t i, char c, bool fold) const {
    if (i >= n_)
      return false;
    const char32_t cp = cps_[i];
    if (cp == static_cast<char32_t>(c))
      return true;
    if (!fold)
      return false;
    return cp == static_cast<char32_t>(c - 'a' + 'A') || (c == 's' && cp == 0x17F);
  }

  // 's|'t|'re|'ve|'m|'ll|'d, tried in that order: end index or i.
  size_t contraction(size_t i, bool fold) const {
    if (i >= n_ || cps_[i] != '\'')
      return i;
    static constexpr std::string_view suffixes[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (std::string_view suffix : suffixes) {
      size_t k = 0;
      while (k < suffix.size() && letter_at(i + 1 + k, suffix[k], fold))
        ++k;
      if (k == suffix.size())
        return i + 1 + k;
    }
    return i;
  }

  // ` ?X+` for X not containing the space: the optional space is taken only
  // when X+ can follow it, and without it X+ cannot start at a space.
  size_t optional_space_then_run(size_t i, uint8_t cls) const {
    const size_t start = cps_[i] == ' ' ? i + 1 : i;
    return has(start, cls) ? run_end(start, cls) : i;
  }

  // `\s+(?!\S)|\s+` at a whitespace character. The greedy run either reaches
  // the end (lookahead holds) or stops before a non-space; then backtracking
  // gives back one character, whose successor is a space, unless that would
  // leave nothing, in which case the plain `\s+` takes the one character.
  size_t whitespace(size_t i) const {
    const size_t j = run_end(i, space);
    return j == n_ || j - i == 1 ? j : j - 1;
  }

  size_t match_gpt2(size_t i) const {
    if (size_t e = contraction(i, false); e > i)
      return e;
    for (uint8_t cls : {letter, number, other})
      if (size_t e = optional_space_then_run(i, cls); e > i)
        return e;
    return has(i, space) ? whitespace(i) : i;
  }

  size_t match_qwen_family(size_t i) const {
    if (size_t e = contraction(i, true); e > i)
      return e;
    // [^\r\n\p{L}\p{N}]?\p{L}+ : the optional character is anything that is
    // not a line break, letter or number, and is kept only if letters follow.
    if (!has(i, line_break | letter | number) && has(i + 1, letter))
      return run_end(i + 1, letter);
    if (has(i, letter))
      return run_end(i, letter);
    // \p{N} (qwen2) or \p{N}{1,3} (llama3).
    if (has(i, number)) {
      const size_t cap = regex_ == split_regex::llama3 ? 3 : 1;
      return std::min(run_end(i, number), i + cap);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if (size_t e = optional_space_then_run(i, other); e > i)
      return run_end(e, line_break);
    if (!has(i, space))
      return i;
    // `\s*[\r\n]+` : \s* backtracks from the end of the whitespace run to
    // the last line break in it; [\r\n]+ then takes just that one.
    const size_t j = run_end(i, space);
    for (size_t k = j; k > i; --k)
      if (has(k - 1, line_break))
        return k;
    return whitespace(i);
  }
};

} // namespace

std::string_view pattern_text(split_regex regex) {
  switch (regex) {
    case split_regex::gpt2: return gpt2_pattern;
    case split_regex::qwen2: return qwen2_pattern;
    case split_regex::llama3: return llama3_pattern;
  }
  return {};
}

std::optional<split_regex> recognise_split_regex(std::string_view pattern) {
  for (auto regex : {split_regex::gpt2, split_regex::qwen2, split_regex::llama3})
    if (pattern == pattern_text(regex))
      return regex;
  return std::nullopt;
}

std::vector<std::pair<size_t, size_t>> find_matches(split_regex regex, std::string_view text) {
  return matcher{regex, text}.run();
}

} // namespace tandem
