// utf8.hpp: UTF-8 helpers shared by the JSON reader and the tokenizer's
// Unicode handling: encoding one code point (the caller passes a valid scalar
// value, <= 0x10FFFF and no surrogate; nothing is checked), and the lead-byte
// rules of well-formed sequences (Unicode Table 3-7).
#pragma once

#include <cstdint>
#include <string>

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

} // namespace tandem
