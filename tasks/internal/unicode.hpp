// unicode.hpp: the Unicode facts the byte-level BPE tokenizer needs, from the
// generated tables in unicode_tables.inc (Unicode version: unicode_version()).
//
//   - UTF-8 decoding/encoding and validation;
//   - \p{L}, \p{N} and \s (White_Space) as the tokenizer regexes define them;
//   - NFC normalization (UAX #15: full canonical decomposition, canonical
//     ordering, canonical composition; Hangul algorithmically);
//   - Rust's String::from_utf8_lossy (how tokenizers turns decoded bytes into
//     text: each maximal invalid subpart becomes one U+FFFD).
//
// Thread safety: stateless functions over constant tables.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tandem::unicode {

/// The Unicode version the tables were generated from.
const char* unicode_version();

/// Byte offset of the first ill-formed UTF-8 sequence in `s`, or npos.
size_t find_invalid_utf8(std::string_view s);

/// Decodes the code point starting at s[i] and advances i past it.
/// Precondition: s is well-formed UTF-8 and i < s.size().
char32_t next_code_point(std::string_view s, size_t& i);

void append_utf8(std::string& out, char32_t cp);

/// General category L* (\p{L}).
bool is_letter(char32_t cp);
/// General category N* (\p{N}).
bool is_number(char32_t cp);
/// The White_Space property (\s in Oniguruma and Rust regex).
bool is_white_space(char32_t cp);

/// The NFC form of well-formed UTF-8 `s`.
std::string nfc(std::string_view s);

/// `bytes` as UTF-8 text with every maximal ill-formed subpart replaced by
/// U+FFFD, exactly as Rust's String::from_utf8_lossy.
std::string utf8_lossy(std::string_view bytes);

} // namespace tandem::unicode
