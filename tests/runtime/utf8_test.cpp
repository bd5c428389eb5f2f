// The linear UTF-8 validator of runtime/utf8.hpp against the cases of
// Unicode Table 3-7: each ill-formed form is refused at its first byte.
#include <string>

#include <gtest/gtest.h>

#include "runtime/utf8.hpp"

using namespace tandem;

namespace {

constexpr size_t npos = std::string_view::npos;

size_t bad_at(const std::string& s) {
  return first_invalid_utf8(s);
}

} // namespace

TEST(Utf8, AcceptsAsciiAndEveryLengthOfWellFormedSequence) {
  EXPECT_EQ(bad_at(""), npos);
  EXPECT_EQ(bad_at("plain text 123"), npos);
  EXPECT_EQ(bad_at("\xC2\x80"), npos);             // U+0080
  EXPECT_EQ(bad_at("caf\xC3\xA9"), npos);          // é
  EXPECT_EQ(bad_at("\xE0\xA0\x80"), npos);         // U+0800
  EXPECT_EQ(bad_at("\xED\x9F\xBF"), npos);         // U+D7FF, just below the surrogates
  EXPECT_EQ(bad_at("\xEE\x80\x80"), npos);         // U+E000, just above them
  EXPECT_EQ(bad_at("\xEF\xBF\xBF"), npos);         // U+FFFF
  EXPECT_EQ(bad_at("\xF0\x90\x80\x80"), npos);     // U+10000
  EXPECT_EQ(bad_at("\xF4\x8F\xBF\xBF"), npos);     // U+10FFFF, the last code point
  EXPECT_EQ(bad_at(std::string("a\0b", 3)), npos); // NUL is a code point
}

TEST(Utf8, RefusesOverlongForms) {
  EXPECT_EQ(bad_at("\xC0\xAF"), 0u);         // '/' in two bytes
  EXPECT_EQ(bad_at("ab\xC1\xBF"), 2u);
  EXPECT_EQ(bad_at("\xE0\x80\xAF"), 0u);     // '/' in three bytes
  EXPECT_EQ(bad_at("\xE0\x9F\xBF"), 0u);     // U+07FF in three bytes
  EXPECT_EQ(bad_at("\xF0\x80\x80\xAF"), 0u); // '/' in four bytes
  EXPECT_EQ(bad_at("\xF0\x8F\xBF\xBF"), 0u); // U+FFFF in four bytes
}

TEST(Utf8, RefusesSurrogates) {
  EXPECT_EQ(bad_at("\xED\xA0\x80"), 0u);             // U+D800
  EXPECT_EQ(bad_at("x\xED\xBF\xBF"), 1u);            // U+DFFF
  EXPECT_EQ(bad_at("\xED\xA0\xBD\xED\xB8\x80"), 0u); // CESU-8 pair
}

TEST(Utf8, RefusesCodePointsAboveTheUnicodeRange) {
  EXPECT_EQ(bad_at("\xF4\x90\x80\x80"), 0u); // U+110000
  EXPECT_EQ(bad_at("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(bad_at("\xF8\x88\x80\x80\x80"), 0u); // old five-byte form
  EXPECT_EQ(bad_at("\xFF"), 0u);
  EXPECT_EQ(bad_at("\xFE"), 0u);
}

TEST(Utf8, RefusesTruncatedSequencesAndStrayContinuationBytes) {
  EXPECT_EQ(bad_at("\xC3"), 0u);
  EXPECT_EQ(bad_at("ok\xE2\x82"), 2u);      // € cut after two bytes
  EXPECT_EQ(bad_at("\xF0\x9F\x98"), 0u);    // 😀 cut after three
  EXPECT_EQ(bad_at("\xE2\x82 x"), 0u);      // € cut by a space
  EXPECT_EQ(bad_at("\x80"), 0u);
  EXPECT_EQ(bad_at("a\xBFz"), 1u);
  EXPECT_EQ(bad_at("\xC3\xA9\xA9"), 2u);    // one continuation too many
}

TEST(Utf8, ProblemTextCountsBytesFromOne) {
  EXPECT_EQ(utf8_problem("fine"), "");
  EXPECT_EQ(utf8_problem("ab\xFF"), "invalid UTF-8 at byte 3");
}

TEST(Utf8, LongInputIsCheckedInOnePass) {
  std::string text(1 << 20, 'a');
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    text[i] = '\xC3';
    text[i + 1] = '\xA9';
  }
  EXPECT_EQ(bad_at(text), npos);
  text.back() = '\xC3'; // the last pair is now C3 C3
  EXPECT_EQ(bad_at(text), text.size() - 2);
}
