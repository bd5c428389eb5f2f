// added_tokens.cpp: leftmost-longest search for added tokens (see header).
#include "tasks/internal/added_tokens.hpp"

#include <algorithm>

#include "tasks/internal/unicode.hpp"

namespace tandem {

namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Start of the whitespace run that ends at `end`.
size_t whitespace_before(std::string_view text, size_t end) {
  size_t start = end;
  while (start > 0) {
    size_t prev = start - 1;
    while (prev > 0 && is_continuation(text[prev]))
      --prev;
    size_t i = prev;
    if (!unicode::is_white_space(unicode::next_code_point(text, i)))
      break;
    start = prev;
  }
  return start;
}

// End of the whitespace run that starts at `begin`.
size_t whitespace_after(std::string_view text, size_t begin) {
  size_t end = begin;
  while (end < text.size()) {
    size_t i = end;
    if (!unicode::is_white_space(unicode::next_code_point(text, i)))
      break;
    end = i;
  }
  return end;
}

} // namespace

void added_token_matcher::add(pattern p) {
  auto& bucket = by_first_byte_[static_cast<unsigned char>(p.text[0])];
  const auto index = static_cast<uint32_t>(patterns_.size());
  patterns_.push_back(std::move(p));
  bucket.push_back(index);
  // Stable: among equal lengths the first added wins, as in the automaton.
  std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
    return patterns_[a].text.size() > patterns_[b].text.size();
  });
}

const added_token_matcher::pattern* added_token_matcher::longest_at(std::string_view text,
                                                                    size_t i) const {
  for (uint32_t index : by_first_byte_[static_cast<unsigned char>(text[i])]) {
    const auto& p = patterns_[index];
    if (text.compare(i, p.text.size(), p.text) == 0)
      return &p;
  }
  return nullptr;
}

std::vector<added_token_matcher::piece> added_token_matcher::split(std::string_view text) const {
  std::vector<piece> out;
  size_t done = 0; // end of the last emitted piece
  for (size_t i = 0; i < text.size();) {
    const pattern* p = empty() ? nullptr : longest_at(text, i);
    if (!p) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + p->text.size();
    if (p->lstrip)
      start = std::max(whitespace_before(text, start), done);
    if (p->rstrip)
      stop = whitespace_after(text, stop);
    if (done < start)
      out.push_back(piece{text.substr(done, start - done), -1});
    out.push_back(piece{text.substr(start, stop - start), p->id});
    done = i = stop;
  }
  if (done < text.size())
    out.push_back(piece{text.substr(done), -1});
  return out;
}

} // namespace tandem
