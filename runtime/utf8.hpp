// utf8.hpp: UTF-8 helpers shared by the JSON reader, the tokenizer's
// Unicode handling and every check of user text (prompts, answers, templates):
// encoding one code point (the caller passes a valid scalar value,
// <= 0x10FFFF and no surrogate; nothing is checked), the lead-byte rules of
// well-formed sequences (Unicode Table 3-7), and a linear validator built on
// them.
//
// Thread safety: stateless functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem {

inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// What a lead byte announces: the sequence length (2..4) and the allowed
/// range of its second byte; length 0 when `b` cannot start a multi-byte
/// sequence (ASCII is the caller's case).
struct utf8_lead {
  int length = 0;
  unsigned char lo = 0x80, hi = 0xBF;
};

inline utf8_lead utf8_lead_of(unsigned char b) {
  if (b >= 0xC2 && b <= 0xDF)
    return {2, 0x80, 0xBF};
  if (b >= 0xE0 && b <= 0xEF)
    return {3, static_cast<unsigned char>(b == 0xE0 ? 0xA0 : 0x80),
            static_cast<unsigned char>(b == 0xED ? 0x9F : 0xBF)};
  if (b >= 0xF0 && b <= 0xF4)
    return {4, static_cast<unsigned char>(b == 0xF0 ? 0x90 : 0x80),
            static_cast<unsigned char>(b == 0xF4 ? 0x8F : 0xBF)};
  return {};
}

/// Byte offset of the first ill-formed sequence of `text`, or npos when all
/// of it is well-formed UTF-8. Ill-formed: a stray continuation byte, a lead
/// byte C0, C1 or F5..FF, an overlong form, a surrogate (U+D800..DFFF), a
/// code point above U+10FFFF, a sequence cut short. One pass, no recursion.
inline size_t first_invalid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const auto lead = utf8_lead_of(p[i]);
    const auto len = static_cast<size_t>(lead.length);
    if (len == 0 || n - i < len || p[i + 1] < lead.lo || p[i + 1] > lead.hi)
      return i;
    for (size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF)
        return i;
    i += len;
  }
  return std::string_view::npos;
}

/// "" when `text` is well-formed UTF-8, else "invalid UTF-8 at byte N"
/// (N counted from 1, as columns are).
inline std::string utf8_problem(std::string_view text) {
  const size_t at = first_invalid_utf8(text);
  if (at == std::string_view::npos)
    return {};
  return "invalid UTF-8 at byte " + std::to_string(at + 1);
}

} // namespace tandem
