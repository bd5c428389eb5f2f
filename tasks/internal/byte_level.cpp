// byte_level.cpp: the byte <-> character tables of the byte-level alphabet.
#include "tasks/internal/byte_level.hpp"

#include <array>
#include <cstdint>

#include "tasks/internal/unicode.hpp"

namespace tandem::byte_level {

namespace {

// Every alphabet character is below U+0144 (256 + 68).
constexpr char32_t alphabet_end = 0x144;

struct tables {
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, alphabet_end> char_to_byte; // -1: not in the alphabet

  tables() {
    char_to_byte.fill(-1);
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
      unicode::append_utf8(byte_to_utf8[static_cast<size_t>(b)], cp);
      char_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const tables& the_tables() {
  static const tables t;
  return t;
}

} // namespace

void encode(std::string_view bytes, std::string& out) {
  const auto& t = the_tables();
  for (unsigned char b : bytes)
    out += t.byte_to_utf8[b];
}

void decode_token(std::string_view token, std::string& out) {
  const auto& t = the_tables();
  const size_t mark = out.size();
  for (size_t i = 0; i < token.size();) {
    const char32_t cp = unicode::next_code_point(token, i);
    if (cp >= alphabet_end || t.char_to_byte[cp] < 0) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out += static_cast<char>(t.char_to_byte[cp]);
  }
}

} // namespace tandem::byte_level
