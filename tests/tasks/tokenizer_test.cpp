// tokenizer_test.cpp: char_tokenizer ids, round trips, specials and errors.
#include "tasks/tokenizer.hpp"

#include <gtest/gtest.h>

#include "runtime/error.hpp"

namespace tandem {
namespace {

TEST(CharTokenizer, VocabIsFiveSpecialsPlusTheAlphabet) {
  char_tokenizer tok;
  EXPECT_EQ(char_tokenizer::alphabet().size(), 74u);
  EXPECT_EQ(tok.vocab_size(), 79);
  EXPECT_EQ(char_tokenizer::alphabet().substr(0, 22), "0123456789+-*/=() .,?:");
}

TEST(CharTokenizer, CharactersMapToIdsAfterTheSpecialsInAlphabetOrder) {
  char_tokenizer tok;
  auto ids = tok.encode("09+aZ");
  ASSERT_TRUE(ids) << describe(ids.error());
  EXPECT_EQ(*ids, (std::vector<int32_t>{5, 14, 15, 5 + 22, 78}));
}

TEST(CharTokenizer, EncodeDecodeRoundTripsArithmeticAndWordProblems) {
  char_tokenizer tok;
  for (std::string text : {"37+45=", "(12*3)-4/2=", "What is 7 times 6? Answer: 42.",
                           "", " ", "<answer>12</answer>"}) {
    auto ids = tok.encode(text);
    ASSERT_TRUE(ids) << text << ": " << describe(ids.error());
    EXPECT_EQ(tok.decode(*ids), text);
  }
}

TEST(CharTokenizer, AnswerTagsInTextEncodeToTheirSpecialIds) {
  char_tokenizer tok;
  auto ids = tok.encode("1<answer>2</answer>");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<int32_t>{6, char_tokenizer::answer_open_id, 7,
                                        char_tokenizer::answer_close_id}));
}

TEST(CharTokenizer, OtherTagsInTextAreNotRecognised) {
  char_tokenizer tok;
  for (std::string text : {"<eos>", "<bos>", "<pad>", "<answer", "a<b"}) {
    auto ids = tok.encode(text);
    ASSERT_FALSE(ids) << text;
    EXPECT_TRUE(is(ids.error(), errc::invalid_argument));
  }
}

TEST(CharTokenizer, DecodeRendersSpecialsAsTagsAndUnknownIdsAsUnk) {
  char_tokenizer tok;
  EXPECT_EQ(tok.decode({0, 1, 2, 3, 4}), "<pad><bos><eos><answer></answer>");
  EXPECT_EQ(tok.decode({6, 79, -1, 1000, 7}), "1<unk><unk><unk>2");
}

TEST(CharTokenizer, UnknownCharacterErrorNamesTheCharacterAndItsOffset) {
  char_tokenizer tok;
  auto ids = tok.encode("12+3!");
  ASSERT_FALSE(ids);
  EXPECT_TRUE(is(ids.error(), errc::invalid_argument));
  EXPECT_EQ(describe(ids.error()),
            "invalid_argument: character '!' (0x21) at offset 4 is not in the "
            "tokenizer alphabet");
}

TEST(CharTokenizer, NonPrintableCharacterIsShownEscaped) {
  char_tokenizer tok;
  auto ids = tok.encode("1\n2");
  ASSERT_FALSE(ids);
  EXPECT_NE(describe(ids.error()).find("'\\x0a' (0x0a) at offset 1"), std::string::npos)
    << describe(ids.error());
}

TEST(CharTokenizer, OffsetCountsBytesOfTheInputIncludingTags) {
  char_tokenizer tok;
  auto ids = tok.encode("<answer>7#");
  ASSERT_FALSE(ids);
  EXPECT_NE(describe(ids.error()).find("'#' (0x23) at offset 9"), std::string::npos);
}

TEST(FormatPrompt, IsBosThenQuestionThenAnswerOpen) {
  char_tokenizer tok;
  auto ids = format_prompt(tok, "3+4=");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<int32_t>{char_tokenizer::bos_id, 8, 15, 9, 19,
                                        char_tokenizer::answer_open_id}));
  EXPECT_EQ(tok.decode(*ids), "<bos>3+4=<answer>");
}

TEST(FormatPrompt, PropagatesTheEncodeError) {
  char_tokenizer tok;
  auto ids = format_prompt(tok, "3%4=");
  ASSERT_FALSE(ids);
  EXPECT_TRUE(is(ids.error(), errc::invalid_argument));
}

TEST(StopTokens, AreAnswerCloseAndEos) {
  EXPECT_EQ(stop_tokens(), (std::vector<int32_t>{char_tokenizer::answer_close_id,
                                                 char_tokenizer::eos_id}));
}

} // namespace
} // namespace tandem
