// byte_level.hpp: GPT-2's byte-level alphabet, which lets a BPE vocabulary of
// printable characters cover every byte string.
//
// Each byte 0..255 maps to one code point: printable Latin-1 bytes ('!'..'~',
// U+00A1..U+00AC, U+00AE..U+00FF) to themselves, the other 68 bytes, in
// order, to U+0100.. (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
//
// Thread safety: stateless functions over constant tables built on first use
// (C++11 static initialisation is thread-safe).
#pragma once

#include <string>
#include <string_view>

namespace tandem::byte_level {

/// Appends the byte-level form of `bytes` (each byte as its alphabet
/// character, UTF-8 encoded).
void encode(std::string_view bytes, std::string& out);

/// Appends the bytes a token stands for, as tokenizers' ByteLevel decoder
/// does: if every character of the token is in the alphabet, the bytes they
/// map to; otherwise the token's own UTF-8 bytes unchanged.
void decode_token(std::string_view token, std::string& out);

} // namespace tandem::byte_level
