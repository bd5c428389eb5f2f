// answer_text.hpp: the text side of the math grader (tasks/math_grader.hpp):
// cleaning an answer's LaTeX and the normalised text form that answers are
// compared by when they are not both numbers. The rules are listed in
// math_grader.hpp (COMPARISON: Cleaning, Text); this file implements them.
//
// Every function is one or a bounded number of linear scans; brace nesting
// is tracked with counters or a heap stack, never recursion.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tandem::answer_text {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string_view trim(std::string_view s);

/// Index of the '}' that closes the '{' at `open`, or npos when the braces
/// do not balance. A backslash escapes the next character ("\{" does not
/// open a group).
size_t closing_brace(std::string_view s, size_t open);

/// The answer with its wrappers, delimiters and LaTeX spellings cleaned
/// (math_grader.hpp, "Cleaning" and "Then, anywhere").
std::string clean_answer(std::string_view text);

/// The text form of an answer already passed through clean_answer()
/// (math_grader.hpp, "Text").
std::string text_form(std::string_view cleaned);

} // namespace tandem::answer_text
