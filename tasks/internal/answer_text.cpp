// answer_text.cpp: cleaning and the text form of answers; see the header and
// the rules in tasks/math_grader.hpp.
#include "tasks/internal/answer_text.hpp"

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

namespace tandem::answer_text {

namespace {

constexpr size_t max_clean_rounds = 16;

// Commands whose argument is the answer when they wrap the whole text.
constexpr std::string_view wrapper_commands[] = {
  "boxed", "fbox", "text", "textbf", "textrm", "textit", "mathrm", "mathbf", "mbox"};
// Commands unwrapped anywhere in the text form.
constexpr std::string_view text_commands[] = {
  "text", "textbf", "textrm", "textit", "mathrm", "mathbf", "mbox"};
// Commands dropped by the rewrite (sizes and degrees).
constexpr std::string_view dropped_commands[] = {
  "displaystyle", "textstyle", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "circ", "degree"};

template <size_t N>
bool one_of(std::string_view name, const std::string_view (&names)[N]) {
  if (name.empty())
    return false;
  for (auto n : names) // the first letter first: commands are many in bad input
    if (n[0] == name[0] && n == name)
      return true;
  return false;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool is_alnum(char c) {
  return is_letter(c) || is_digit(c);
}

// The letters of the command whose backslash is at `at` ("" if none).
std::string_view command_name(std::string_view s, size_t at) {
  size_t end = at + 1;
  while (end < s.size() && is_letter(s[end]))
    ++end;
  return s.substr(at + 1, end - at - 1);
}

bool strip_delimiters(std::string_view& s) {
  for (auto [open, close] : {std::pair<std::string_view, std::string_view>{"$$", "$$"},
                             {"$", "$"}, {"\\(", "\\)"}, {"\\[", "\\]"}}) {
    if (s.size() >= open.size() + close.size() && starts_with(s, open) && ends_with(s, close)) {
      s = s.substr(open.size(), s.size() - open.size() - close.size());
      return true;
    }
  }
  return false;
}

// CMD{...} or {...} as the whole text -> its argument.
bool unwrap_command(std::string_view& s) {
  if (!s.empty() && s[0] == '{' && closing_brace(s, 0) == s.size() - 1) {
    s = s.substr(1, s.size() - 2);
    return true;
  }
  if (s.empty() || s[0] != '\\')
    return false;
  const auto name = command_name(s, 0);
  if (!one_of(name, wrapper_commands))
    return false;
  size_t open = name.size() + 1;
  while (open < s.size() && is_space(s[open]))
    ++open;
  if (open >= s.size() || s[open] != '{' || closing_brace(s, open) != s.size() - 1)
    return false;
  s = s.substr(open + 1, s.size() - open - 2);
  return true;
}

bool strip_trailing_period(std::string_view& s) {
  if (s.size() < 2 || s.back() != '.')
    return false;
  s.remove_suffix(1);
  return true;
}

// "x = 5" -> "5": one '=' with one or two letters before it.
bool strip_variable(std::string_view& s) {
  const size_t eq = s.find('=');
  if (eq == std::string_view::npos || s.find('=', eq + 1) != std::string_view::npos)
    return false;
  const auto left = trim(s.substr(0, eq));
  if (left.empty() || left.size() > 2 || !std::all_of(left.begin(), left.end(), is_letter))
    return false;
  s = s.substr(eq + 1);
  return true;
}

std::string_view clean_outer(std::string_view s) {
  for (size_t round = 0; round < max_clean_rounds; ++round) {
    s = trim(s);
    if (!strip_delimiters(s) && !unwrap_command(s) && !strip_trailing_period(s)
        && !strip_variable(s))
      break;
  }
  return trim(s);
}

// A backslash and what follows it at `at`, rewritten into `out`; returns the
// index after what was read.
size_t rewrite_command(std::string_view s, size_t at, std::string& out) {
  const size_t next = at + 1;
  if (next == s.size()) {
    out += '\\';
    return next;
  }
  const char c = s[next];
  if (!is_letter(c)) {
    if (c == '%')
      out += '%';
    else if (c == ',')
      out += !out.empty() && is_digit(out.back()) && next + 1 < s.size() && is_digit(s[next + 1])
               ? ','
               : ' ';
    else if (c == ';' || c == ':' || c == ' ')
      out += ' ';
    else if (c != '$' && c != '!')
      out.append(s.substr(at, 2));
    return next + 1;
  }
  const auto name = command_name(s, at);
  size_t end = next + name.size();
  if (name == "left" || name == "right")
    return end < s.size() && s[end] == '.' ? end + 1 : end; // "\left." is no delimiter
  if (one_of(name, dropped_commands))
    return end;
  if (name == "dfrac" || name == "tfrac")
    out += "\\frac";
  else if (name == "quad" || name == "qquad")
    out += ' ';
  else
    out.append(s.substr(at, end - at));
  return end;
}

// A byte >= 0x80 at `at`: the few code points of the rules, else the byte.
size_t rewrite_non_ascii(std::string_view s, size_t at, std::string& out) {
  const auto is = [&](std::string_view seq) { return s.compare(at, seq.size(), seq) == 0; };
  if (is("\xE2\x88\x92")) { // U+2212 minus sign
    out += '-';
    return at + 3;
  }
  if (is("\xE2\x80\x89") || is("\xE2\x80\xAF")) { // thin space, narrow no-break space
    out += ' ';
    return at + 3;
  }
  if (is("\xC2\xA0")) { // no-break space
    out += ' ';
    return at + 2;
  }
  if (is("\xC2\xB0")) // degree sign
    return at + 2;
  if (is("\xC3\x97")) { // multiplication sign
    out += "\\times ";
    return at + 2;
  }
  out += s[at];
  return at + 1;
}

// Bytes the rewrite looks at; the rest is copied in runs.
bool rewrite_special(char c) {
  return c == '\\' || c == '^' || c == '{' || c == '~' || static_cast<unsigned char>(c) >= 0x80;
}

// Index of the first byte at or after `from` that `special` accepts.
template <class Pred>
size_t next_special(std::string_view s, size_t from, Pred special) {
  while (from < s.size() && !special(s[from]))
    ++from;
  return from;
}

std::string rewrite(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t run_end = next_special(s, i, rewrite_special);
    out.append(s.substr(i, run_end - i));
    i = run_end;
    if (i == s.size())
      break;
    const char c = s[i];
    if (c == '\\') {
      i = rewrite_command(s, i, out);
    } else if (c == '^' && s.compare(i, 6, "^\\circ") == 0
               && (i + 6 == s.size() || !is_letter(s[i + 6]))) {
      i += 6;
    } else if (c == '^' && s.compare(i, 8, "^{\\circ}") == 0) {
      i += 8;
    } else if (c == '{' && s.compare(i, 3, "{,}") == 0) {
      out += ',';
      i += 3;
    } else if (c == '~') {
      out += ' ';
      ++i;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      i = rewrite_non_ascii(s, i, out);
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// \text{..} and its kin unwrapped anywhere; a heap stack remembers, for each
// open brace, whether its closing brace is kept.
std::string unwrap_text_groups(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::vector<bool> keep_close;
  const auto special = [](char c) { return c == '\\' || c == '{' || c == '}'; };
  for (size_t i = 0; i < s.size();) {
    const size_t run_end = next_special(s, i, special);
    out.append(s.substr(i, run_end - i));
    i = run_end;
    if (i == s.size())
      break;
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size() && !is_letter(s[i + 1])) {
      out.append(s.substr(i, 2));
      i += 2;
      continue;
    }
    if (c == '\\') {
      const auto name = command_name(s, i);
      size_t open = i + 1 + name.size();
      while (open < s.size() && is_space(s[open]))
        ++open;
      if (!name.empty() && one_of(name, text_commands) && open < s.size() && s[open] == '{') {
        keep_close.push_back(false);
        i = open + 1;
        continue;
      }
      out.append(s.substr(i, 1 + name.size()));
      i += 1 + name.size();
      continue;
    }
    if (c == '{')
      keep_close.push_back(true);
    if (c == '}' && !keep_close.empty()) {
      const bool keep = keep_close.back();
      keep_close.pop_back();
      if (!keep) {
        ++i;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

// Whitespace dropped, except one space between two letters or digits.
std::string squeeze_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t word_end = next_special(s, i, is_space);
    if (word_end > i && i > 0 && !out.empty() && is_alnum(out.back()) && is_alnum(s[i]))
      out += ' '; // s[i - 1] was a space
    out.append(s.substr(i, word_end - i));
    i = next_special(s, word_end, [](char c) { return !is_space(c); });
  }
  return out;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

size_t closing_brace(std::string_view s, size_t open) {
  size_t depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      ++i; // the escaped character does not count
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && depth > 0 && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string clean_answer(std::string_view text) {
  const std::string rewritten = rewrite(clean_outer(text));
  return std::string{clean_outer(rewritten)};
}

std::string text_form(std::string_view cleaned) {
  std::string s = squeeze_spaces(unwrap_text_groups(cleaned));
  // A lone choice letter: "A", "(A)", "A)".
  if (s.size() == 1 && is_letter(s[0]))
    return std::string(1, lower(s[0]));
  if (s.size() == 2 && is_letter(s[0]) && s[1] == ')')
    return std::string(1, lower(s[0]));
  if (s.size() == 3 && s[0] == '(' && is_letter(s[1]) && s[2] == ')')
    return std::string(1, lower(s[1]));
  if (std::all_of(s.begin(), s.end(), [](char c) { return is_letter(c) || c == ' '; }))
    std::transform(s.begin(), s.end(), s.begin(), lower);
  return s;
}

} // namespace tandem::answer_text
