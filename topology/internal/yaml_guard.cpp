#include "topology/internal/yaml_guard.hpp"

#include <cstddef>

namespace tandem::internal {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_break(char c) {
  return c == '\n' || c == '\r';
}

// The scanner's position plus what it needs to know about the current line.
struct scan {
  std::string_view text;
  size_t i = 0;
  int line = 1;
  size_t line_start = 0;
  int flow = 0;            // depth of [ ] and { }
  bool token_start = true; // the next character may start a token
  bool after_plain = false; // the last token on this line is a plain scalar

  position here() const {
    return {line, static_cast<int>(i - line_start) + 1};
  }
  size_t indent_of_line() const {
    size_t n = 0;
    while (line_start + n < text.size() && text[line_start + n] == ' ')
      ++n;
    return n;
  }
  void newline() {
    ++line;
    line_start = i;
    token_start = true;
    after_plain = false;
  }
};

// Skips a quoted scalar starting at s.i (the opening quote), across lines.
void skip_quoted(scan& s) {
  const char q = s.text[s.i++];
  while (s.i < s.text.size()) {
    const char c = s.text[s.i];
    if (q == '"' && c == '\\' && s.i + 1 < s.text.size()) {
      s.i += 2;
      continue;
    }
    ++s.i;
    if (c == '\n') {
      ++s.line;
      s.line_start = s.i;
    } else if (c == q) {
      if (q == '\'' && s.i < s.text.size() && s.text[s.i] == '\'') {
        ++s.i; // '' inside single quotes
        continue;
      }
      return;
    }
  }
}

// At a block scalar header (| or >) that ends its line: skips the content
// lines, i.e. blank lines and lines indented deeper than the header's line.
void skip_block_scalar(scan& s) {
  const size_t parent = s.indent_of_line();
  while (s.i < s.text.size() && !is_break(s.text[s.i]))
    ++s.i;
  while (s.i < s.text.size()) {
    size_t j = s.i;
    while (j < s.text.size() && is_break(s.text[j]))
      ++j;
    size_t n = 0;
    while (j + n < s.text.size() && s.text[j + n] == ' ')
      ++n;
    const bool blank = j + n >= s.text.size() || is_break(s.text[j + n]);
    if (!blank && n <= parent)
      return; // s.i is at the line break ending the scalar
    for (; s.i < j + n; ++s.i)
      if (s.text[s.i] == '\n') {
        ++s.line;
        s.line_start = s.i + 1;
      }
    while (s.i < s.text.size() && !is_break(s.text[s.i]))
      ++s.i;
  }
}

// True when the token at s.i ('|' or '>' with indicators) ends its line.
bool is_block_scalar_header(const scan& s) {
  size_t j = s.i + 1;
  while (j < s.text.size() && (s.text[j] == '+' || s.text[j] == '-'
                               || (s.text[j] >= '1' && s.text[j] <= '9')))
    ++j;
  while (j < s.text.size() && is_blank(s.text[j]))
    ++j;
  return j >= s.text.size() || is_break(s.text[j]) || s.text[j] == '#';
}

// Skips one plain word (up to a blank or line break; in flow context also up
// to a flow indicator).
void skip_word(scan& s) {
  while (s.i < s.text.size() && !is_blank(s.text[s.i]) && !is_break(s.text[s.i])) {
    const char c = s.text[s.i];
    if (s.flow > 0 && (c == ',' || c == '[' || c == ']' || c == '{' || c == '}'))
      return;
    ++s.i;
  }
}

} // namespace

// after_plain: a plain scalar is open on this line, so a ',' or a quote is
// one more character of it (block context). A key ("name:") closes it.
std::optional<position> find_stray_flow_entry(std::string_view text) {
  scan s;
  s.text = text;
  while (s.i < text.size()) {
    const char c = text[s.i];
    const bool value_start = s.token_start && (!s.after_plain || s.flow > 0);
    if (c == '\n') {
      ++s.i;
      s.newline();
    } else if (c == '\r' || is_blank(c) || c == '\0') {
      // yaml-cpp ends a plain scalar at a NUL byte ("\0," loops as "," does).
      s.after_plain = s.after_plain && c != '\0';
      ++s.i;
      s.token_start = true;
    } else if ((c == '#' && s.token_start) || (c == '%' && s.i == s.line_start)) {
      while (s.i < text.size() && text[s.i] != '\n')
        ++s.i;
    } else if (c == ',' && s.flow == 0) {
      if (!s.after_plain)
        return s.here();
      ++s.i; // one more character of the plain scalar
      s.token_start = false;
    } else if (c == ',' || ((c == '[' || c == '{') && value_start)
               || ((c == ']' || c == '}') && s.flow > 0)) {
      s.flow += c == ',' ? 0 : (c == '[' || c == '{') ? 1 : -1;
      ++s.i;
      s.token_start = true;
      s.after_plain = false;
    } else if ((c == '"' || c == '\'') && value_start) {
      skip_quoted(s);
      s.token_start = false;
    } else if ((c == '|' || c == '>') && value_start && s.flow == 0
               && is_block_scalar_header(s)) {
      skip_block_scalar(s);
    } else if ((c == '&' || c == '!' || c == '*') && value_start) {
      // Anchor, tag or alias: its name ends at a flow indicator too ("&s,"
      // loops yaml-cpp as "&s ," does); what follows starts a token.
      ++s.i;
      while (s.i < text.size() && !is_blank(text[s.i]) && !is_break(text[s.i])
             && std::string_view(",[]{}").find(text[s.i]) == std::string_view::npos)
        ++s.i;
      s.token_start = false;
    } else if ((c == '-' || c == '?' || c == ':') && s.token_start
               && (s.i + 1 >= text.size() || is_blank(text[s.i + 1])
                   || is_break(text[s.i + 1]))) {
      ++s.i; // block indicator
      s.after_plain = false;
    } else {
      const size_t begin = s.i;
      skip_word(s);
      if (s.i == begin)
        ++s.i; // a flow indicator outside flow context: a plain character
      const auto word = text.substr(begin, s.i - begin);
      const bool marker = begin == s.line_start && (word == "---" || word == "...");
      // "key:" ends a key and a document marker starts a node: neither is
      // a plain scalar that a ',' could continue.
      s.after_plain = !marker && !(s.flow == 0 && word.back() == ':');
      s.token_start = false;
    }
  }
  return std::nullopt;
}

} // namespace tandem::internal
