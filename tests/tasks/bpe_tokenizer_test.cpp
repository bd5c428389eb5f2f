// bpe_tokenizer_test.cpp: tokenizer.json loading, encode/decode against ids
// produced by Hugging Face `tokenizers` (tests/data/hf/expected.json, made by
// tests/reference/make_hf_fixtures.py), the hand-written pre-tokenizer
// regexes on tricky inputs, NFC, and a clear error for each malformed file.
#include "tasks/bpe_tokenizer.hpp"

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/internal/split_regex.hpp"
#include "tasks/internal/unicode.hpp"

namespace tandem {
namespace {

const std::string hf_dir = TANDEM_TEST_DATA_DIR "/hf";

bpe_tokenizer load(const std::string& kind) {
  auto tok = load_tokenizer_json(hf_dir + "/tokenizer-" + kind + "/tokenizer.json");
  if (!tok)
    ADD_FAILURE() << describe(tok.error());
  return std::move(*tok);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::vector<int32_t> ints(const json_value& v) {
  std::vector<int32_t> out;
  for (const auto& x : *v.as_array())
    out.push_back(static_cast<int32_t>(*x.as_integer()));
  return out;
}

// The pieces the regex cuts `text` into.
std::vector<std::string> pieces(split_regex regex, std::string_view text) {
  std::vector<std::string> out;
  size_t prev = 0;
  for (const auto& [b, e] : find_matches(regex, text)) {
    EXPECT_EQ(b, prev) << "gap before a match in " << text;
    out.emplace_back(text.substr(b, e - b));
    prev = e;
  }
  EXPECT_EQ(prev, text.size()) << "text not covered: " << text;
  return out;
}

using strings = std::vector<std::string>;

// --- Hugging Face reference ids ---------------------------------------------

void expect_matches_reference(const std::string& kind) {
  auto tok = load(kind);
  auto expected = read_json_file(hf_dir + "/expected.json");
  ASSERT_TRUE(expected) << describe(expected.error());
  const json_value* cases = expected->find("tokenizers")->find(kind);
  ASSERT_NE(cases, nullptr);
  ASSERT_GE(cases->as_array()->size(), 19u);
  size_t matched = 0;
  for (const auto& c : *cases->as_array()) {
    const std::string& text = *c.find("text")->as_string();
    const auto want = ints(*c.find("ids"));
    auto ids = tok.encode(text);
    ASSERT_TRUE(ids) << describe(ids.error());
    EXPECT_EQ(*ids, want) << kind << " ids of: " << text;
    EXPECT_EQ(tok.decode(want), *c.find("decoded")->as_string()) << kind << " decode of: " << text;
    matched += *ids == want;
  }
  EXPECT_EQ(matched, cases->as_array()->size());
}

TEST(BpeTokenizer, Gpt2IdsAndDecodingEqualHuggingFaceOnEveryReferenceText) {
  expect_matches_reference("gpt2");
}

TEST(BpeTokenizer, Qwen2IdsAndDecodingEqualHuggingFaceOnEveryReferenceText) {
  expect_matches_reference("qwen2");
}

TEST(BpeTokenizer, SpecialTokensAreFoundInTextAndCanBeSkippedWhenDecoding) {
  auto tok = load("qwen2");
  EXPECT_EQ(tok.token_to_id("<|im_end|>"), 2);
  EXPECT_EQ(tok.id_to_token(1), "<|im_start|>");
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(100));
  ASSERT_EQ(tok.added_tokens().size(), 3u);
  EXPECT_EQ(tok.added_tokens()[2].content, "<|im_end|>");
  auto ids = tok.encode("<|im_start|>hi<|im_end|>");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->front(), 1);
  EXPECT_EQ(ids->back(), 2);
  EXPECT_EQ(tok.decode(*ids), "<|im_start|>hi<|im_end|>");
  EXPECT_EQ(tok.decode(*ids, true), "hi");
}

TEST(BpeTokenizer, VocabularySizeCountsDistinctTokens) {
  auto tok = load("gpt2");
  EXPECT_EQ(tok.vocab_size(), 384); // the specials are in the model vocab too
  EXPECT_EQ(tok.id_bound(), 384);
  EXPECT_TRUE(tok.token_to_id("\xC4\xA0")); // 'Ġ', the byte-level space
  EXPECT_FALSE(tok.token_to_id("not-a-token"));
  EXPECT_FALSE(tok.id_to_token(384));
  EXPECT_FALSE(tok.id_to_token(-1));
}

TEST(BpeTokenizer, DecodeSkipsUnknownIdsAndReplacesCutCharacters) {
  auto tok = load("gpt2");
  auto ids = tok.encode("🦀");
  ASSERT_TRUE(ids);
  ASSERT_GE(ids->size(), 2u); // four bytes, not one token in this small vocab
  std::vector<int32_t> cut(ids->begin(), ids->end() - 1);
  cut.push_back(99999);
  EXPECT_EQ(tok.decode(cut), "\xEF\xBF\xBD"); // one U+FFFD for the cut sequence
}

TEST(BpeTokenizer, EncodeRefusesTextThatIsNotUtf8) {
  auto tok = load("gpt2");
  auto ids = tok.encode("ok \xFF bad");
  ASSERT_FALSE(ids);
  EXPECT_TRUE(is(ids.error(), errc::invalid_argument));
  EXPECT_NE(describe(ids.error()).find("byte 3"), std::string::npos);
}

TEST(BpeTokenizer, RepeatedAndConcurrentEncodingGivesTheSameIds) {
  auto tok = load("qwen2");
  const std::string text = "The quick brown fox; the quick brown fox. 12345 Straße!";
  std::vector<std::vector<int32_t>> expected;
  for (int k = 0; k < 7; ++k)
    expected.push_back(*tok.encode(text + std::to_string(k)));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (*tok.encode(text + std::to_string(i % 7)) != expected[static_cast<size_t>(i % 7)])
          ++mismatches;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// --- pre-tokenizer regexes ----------------------------------------------------

TEST(SplitRegex, RecognisesExactlyTheKnownPatterns) {
  for (auto r : {split_regex::gpt2, split_regex::qwen2, split_regex::llama3})
    EXPECT_EQ(recognise_split_regex(pattern_text(r)), r);
  EXPECT_FALSE(recognise_split_regex(R"(\p{L}+|\s+)"));
  EXPECT_FALSE(recognise_split_regex(std::string(pattern_text(split_regex::gpt2)) + "|x"));
}

TEST(SplitRegex, Gpt2WhitespaceRunGivesItsLastSpaceToTheNextWord) {
  EXPECT_EQ(pieces(split_regex::gpt2, "Hello  world"), (strings{"Hello", " ", " world"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "   leading"), (strings{"  ", " leading"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "trailing   "), (strings{"trailing", "   "}));
  EXPECT_EQ(pieces(split_regex::gpt2, "a\tb"), (strings{"a", "\t", "b"}));
}

TEST(SplitRegex, Gpt2SplitsCrlfBeforeAWordIntoTwo) {
  // \s+(?!\S) backs off to "\r"; then "\n" alone is only matched by \s+.
  EXPECT_EQ(pieces(split_regex::gpt2, "a\r\nb"), (strings{"a", "\r", "\n", "b"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "a\r\n"), (strings{"a", "\r\n"}));
}

TEST(SplitRegex, Gpt2ContractionsAreCaseSensitive) {
  EXPECT_EQ(pieces(split_regex::gpt2, "it's"), (strings{"it", "'s"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "WE'LL"), (strings{"WE", "'", "LL"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "we'll've"), (strings{"we", "'ll", "'ve"}));
}

TEST(SplitRegex, Gpt2KeepsDigitRunsAndSymbolRunsWithOneLeadingSpace) {
  EXPECT_EQ(pieces(split_regex::gpt2, "abc 12345 !?"), (strings{"abc", " 12345", " !?"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "hi 🙂🚀!"), (strings{"hi", " 🙂🚀!"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "🙂hi"), (strings{"🙂", "hi"}));
}

TEST(SplitRegex, CombiningMarksAreNeitherLettersNorSpaces) {
  const std::string text = "cafe\xCC\x81 x"; // e + U+0301 COMBINING ACUTE ACCENT
  EXPECT_EQ(pieces(split_regex::gpt2, text), (strings{"cafe", "\xCC\x81", " x"}));
  EXPECT_EQ(pieces(split_regex::qwen2, text), (strings{"cafe", "\xCC\x81", " x"}));
}

TEST(SplitRegex, UnicodeWhiteSpaceCountsAsSpace) {
  EXPECT_EQ(pieces(split_regex::gpt2, "a\u00A0b"), (strings{"a", "\u00A0", "b"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "and \u3000 x"), (strings{"and", " \u3000", " x"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "a\u2028b"), (strings{"a", "\u2028b"}));
}

TEST(SplitRegex, QwenKeepsCrlfTogetherAndEndsWhitespaceAtTheLastLineBreak) {
  EXPECT_EQ(pieces(split_regex::qwen2, "a\r\nb"), (strings{"a", "\r\n", "b"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "x  \n\n  y"), (strings{"x", "  \n\n", " ", " y"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "x!!\n\ny"), (strings{"x", "!!\n\n", "y"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "\n"), (strings{"\n"}));
}

TEST(SplitRegex, QwenAttachesOneNonLetterCharacterToTheWordAfterIt) {
  EXPECT_EQ(pieces(split_regex::qwen2, "\t\tfoo"), (strings{"\t", "\tfoo"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "(hello)"), (strings{"(hello", ")"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "🙂hi"), (strings{"🙂hi"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "  !x"), (strings{" ", " !", "x"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "O'Neil's"), (strings{"O", "'Neil", "'s"}));
}

TEST(SplitRegex, QwenContractionsIgnoreCase) {
  EXPECT_EQ(pieces(split_regex::qwen2, "WE'LL"), (strings{"WE", "'LL"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "don'T"), (strings{"don", "'T"}));
  EXPECT_EQ(pieces(split_regex::qwen2, "THEY'RE"), (strings{"THEY", "'RE"}));
  // U+017F LATIN SMALL LETTER LONG S folds to 's'.
  EXPECT_EQ(pieces(split_regex::qwen2, "it'\u017Fx"), (strings{"it", "'\u017F", "x"}));
  EXPECT_EQ(pieces(split_regex::gpt2, "it'\u017Fx"), (strings{"it", "'", "\u017Fx"}));
}

TEST(SplitRegex, QwenSplitsNumbersIntoSingleDigits) {
  EXPECT_EQ(pieces(split_regex::qwen2, "x12345"), (strings{"x", "1", "2", "3", "4", "5"}));
  EXPECT_EQ(pieces(split_regex::qwen2, " 42"), (strings{" ", "4", "2"}));
}

TEST(SplitRegex, Llama3GroupsNumbersInThreesFromTheLeft) {
  EXPECT_EQ(pieces(split_regex::llama3, "1234567"), (strings{"123", "456", "7"}));
  EXPECT_EQ(pieces(split_regex::llama3, "x1234"), (strings{"x", "123", "4"}));
  EXPECT_EQ(pieces(split_regex::llama3, "12 345678"), (strings{"12", " ", "345", "678"}));
  // \p{N} includes other number forms: superscripts (No), Arabic-Indic (Nd).
  EXPECT_EQ(pieces(split_regex::llama3, "½²³⁴"), (strings{"½²³", "⁴"}));
  EXPECT_EQ(pieces(split_regex::llama3, "٣٤٥٦"), (strings{"٣٤٥", "٦"}));
  EXPECT_EQ(pieces(split_regex::llama3, "3.14159"), (strings{"3", ".", "141", "59"}));
}

// --- NFC ----------------------------------------------------------------------

TEST(Nfc, ComposesReordersAndRespectsExclusions) {
  EXPECT_EQ(unicode::nfc("caf\x65\xCC\x81"), "caf\xC3\xA9");                  // e + acute
  EXPECT_EQ(unicode::nfc("\u1100\u1161\u11A8"), "\uAC01");                     // Hangul LVT
  EXPECT_EQ(unicode::nfc("\u212B"), "\u00C5");                                 // singleton
  EXPECT_EQ(unicode::nfc("a\u0302\u0323"), "\u1EAD");                          // reorder
  EXPECT_EQ(unicode::nfc("\u0958"), "\u0915\u093C");                           // excluded
  EXPECT_EQ(unicode::nfc("\u0B47\u0B3E"), "\u0B4B");                           // starters
  EXPECT_EQ(unicode::nfc("A\u030A\u0301"), "\u01FA");                          // twice
  EXPECT_EQ(unicode::nfc("\u0301a"), "\u0301a");                               // leading mark
  EXPECT_EQ(unicode::nfc("x\u0300\u0315\u0301"), "x\u0300\u0301\u0315");       // ordering
  EXPECT_EQ(unicode::nfc("plain ASCII"), "plain ASCII");
  EXPECT_EQ(unicode::nfc("数学 🙂"), "数学 🙂");
}

TEST(Nfc, NormalizerMakesDecomposedTextEncodeLikeComposedText) {
  std::string text = read_text(hf_dir + "/tokenizer-qwen2/tokenizer.json");
  const std::string null_normalizer = "\"normalizer\": null";
  ASSERT_NE(text.find(null_normalizer), std::string::npos);
  auto plain = parse_tokenizer_json(text);
  text.replace(text.find(null_normalizer), null_normalizer.size(),
               R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]})");
  auto nfc = parse_tokenizer_json(text);
  ASSERT_TRUE(plain && nfc) << describe(nfc.error());
  const std::string composed = "caf\xC3\xA9 na\xC3\xAFve", decomposed = "cafe\xCC\x81 nai\xCC\x88ve";
  EXPECT_EQ(*nfc->encode(decomposed), *plain->encode(composed));
  EXPECT_NE(*plain->encode(decomposed), *plain->encode(composed));
}

// --- small hand-made tokenizers -------------------------------------------------

struct spec {
  std::string vocab = R"({"a": 0, "b": 1})";
  std::string merges = "[]";
  std::string model_extra;
  std::string added = "[]";
  std::string normalizer = "null";
  std::string pre_tokenizer = "null";
  std::string decoder = R"({"type": "ByteLevel"})";
  std::string top_extra;

  std::string json() const {
    return "{\n\"version\": \"1.0\", " + top_extra + "\"added_tokens\": " + added
           + ",\n\"normalizer\": " + normalizer + ",\n\"pre_tokenizer\": " + pre_tokenizer
           + ",\n\"post_processor\": null,\n\"decoder\": " + decoder
           + ",\n\"model\": {\"type\": \"BPE\", " + model_extra + "\"vocab\": " + vocab
           + ",\n\"merges\": " + merges + "}\n}";
  }
};

const std::string byte_level_no_regex =
  R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})";

std::string split_then_byte_level(split_regex regex) {
  std::string pattern;
  for (char c : pattern_text(regex)) {
    if (c == '\\' || c == '"')
      pattern += '\\';
    pattern += c;
  }
  return R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ")"
         + pattern + R"("}, "behavior": "Isolated", "invert": false}, )" + byte_level_no_regex
         + "]}";
}

bpe_tokenizer build(const spec& s) {
  auto tok = parse_tokenizer_json(s.json());
  if (!tok)
    ADD_FAILURE() << describe(tok.error());
  return std::move(*tok);
}

std::vector<int32_t> encode(const bpe_tokenizer& tok, std::string_view text) {
  auto ids = tok.encode(text);
  EXPECT_TRUE(ids) << describe(ids.error());
  return ids ? *ids : std::vector<int32_t>{};
}

spec llama3_digits(bool ignore_merges) {
  spec s;
  s.vocab = R"({"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "12": 7, "123": 8,
               "45": 9, "456": 10, "\u0120": 11, "a": 12, "b": 13, "c": 14, "bc": 15,
               "abc": 16})";
  s.merges = R"([["1", "2"], ["12", "3"], "4 5", "45 6", "b c"])";
  s.model_extra = std::string("\"ignore_merges\": ") + (ignore_merges ? "true" : "false") + ", ";
  s.pre_tokenizer = split_then_byte_level(split_regex::llama3);
  return s;
}

TEST(BpeTokenizer, Llama3PatternFeedsDigitTriplesToTheModel) {
  auto tok = build(llama3_digits(true));
  EXPECT_EQ(encode(tok, "1234567"), (std::vector<int32_t>{8, 10, 6}));
  EXPECT_EQ(encode(tok, " 1234"), (std::vector<int32_t>{11, 8, 3}));
  EXPECT_EQ(tok.decode({8, 10, 6}), "1234567");
}

TEST(BpeTokenizer, IgnoreMergesTakesAWholeWordFromTheVocabulary) {
  EXPECT_EQ(encode(build(llama3_digits(true)), "abc"), (std::vector<int32_t>{16}));
  EXPECT_EQ(encode(build(llama3_digits(false)), "abc"), (std::vector<int32_t>{12, 15}));
}

TEST(BpeTokenizer, MergesApplyLowestRankFirst) {
  spec s;
  s.vocab = R"({"a": 0, "b": 1, "ab": 2, "bb": 3})";
  s.merges = R"(["b b", "a b"])"; // "bb" outranks "ab"
  auto tok = build(s);
  EXPECT_EQ(encode(tok, "abb"), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(encode(tok, "abab"), (std::vector<int32_t>{2, 2}));
}

TEST(BpeTokenizer, CharactersOutsideTheVocabularyAreDroppedAsInTokenizers) {
  EXPECT_EQ(encode(build(spec{}), "axb"), (std::vector<int32_t>{0, 1}));
}

TEST(BpeTokenizer, UnknownTokenAndByteFallbackCoverMissingCharacters) {
  spec s;
  s.vocab = R"({"a": 0, "<unk>": 1, "<0xC3>": 2, "<0xA9>": 3})";
  s.model_extra = R"("unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true, )";
  EXPECT_EQ(encode(build(s), "a\u00E9a"), (std::vector<int32_t>{0, 2, 3, 0}));
  EXPECT_EQ(encode(build(s), "axya"), (std::vector<int32_t>{0, 1, 0})); // fused
}

TEST(BpeTokenizer, AddPrefixSpaceAddsASpaceBeforeTheText) {
  spec s;
  s.vocab = R"({"\u0120": 0, "a": 1, "\u0120a": 2})";
  s.merges = R"(["\u0120 a"])";
  s.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true})";
  auto tok = build(s);
  EXPECT_EQ(encode(tok, "a"), (std::vector<int32_t>{2}));
  EXPECT_EQ(encode(tok, " a"), (std::vector<int32_t>{2}));
  EXPECT_EQ(tok.decode({2}), " a");
}

TEST(BpeTokenizer, AddedTokensHonourLstripAndRstrip) {
  spec s;
  s.vocab = R"({"a": 0, "b": 1, "\u0120": 2})";
  s.pre_tokenizer = byte_level_no_regex;
  s.added = R"([{"id": 3, "content": "<m>", "single_word": false, "lstrip": true,
                 "rstrip": true, "normalized": false, "special": true},
                {"id": 4, "content": "<l>", "single_word": false, "lstrip": true,
                 "rstrip": false, "normalized": false, "special": false}])";
  auto tok = build(s);
  EXPECT_EQ(encode(tok, "a <m> b"), (std::vector<int32_t>{0, 3, 1}));
  EXPECT_EQ(encode(tok, "a <l> b"), (std::vector<int32_t>{0, 4, 2, 1}));
  EXPECT_EQ(encode(tok, "<m><l>"), (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(tok.decode({0, 3, 4}, true), "a<l>");
}

TEST(BpeTokenizer, LongestAddedTokenWinsAtTheSamePosition) {
  spec s;
  s.added = R"([{"id": 2, "content": "<a>", "special": true, "normalized": false},
                {"id": 3, "content": "<a><b>", "special": true, "normalized": false}])";
  auto tok = build(s);
  EXPECT_EQ(encode(tok, "a<a><b><a>b"), (std::vector<int32_t>{0, 3, 2, 1}));
}

TEST(BpeTokenizer, NormalizedAddedTokensMatchAfterNfc) {
  spec s;
  s.normalizer = R"({"type": "NFC"})";
  s.added = R"([{"id": 2, "content": "\u00E9", "special": false, "normalized": true}])";
  auto tok = build(s);
  EXPECT_EQ(encode(tok, "ae\u0301b"), (std::vector<int32_t>{0, 2, 1}));
}

// --- malformed files ------------------------------------------------------------

std::string load_error(const std::string& json) {
  auto tok = parse_tokenizer_json(json, "tok.json");
  EXPECT_FALSE(tok) << json;
  if (tok)
    return {};
  EXPECT_TRUE(is(tok.error(), errc::invalid_config)) << describe(tok.error());
  return describe(tok.error());
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

TEST(BpeTokenizerErrors, BadJsonNamesLineAndColumn) {
  spec s;
  s.vocab = R"({"a": 0, "b" 1})";
  EXPECT_HAS(load_error(s.json()), "tok.json:7:48: expected ':' after object key");
}

TEST(BpeTokenizerErrors, UnknownModelTypeIsRefused) {
  EXPECT_HAS(load_error(R"({"model": {"type": "WordPiece", "vocab": {}}})"),
             "tok.json:1:11: model.type: unsupported model type \"WordPiece\"");
}

TEST(BpeTokenizerErrors, UnknownRegexIsRefusedQuotingIt) {
  spec s;
  s.pre_tokenizer = R"({"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+"},
                        "behavior": "Isolated", "invert": false})";
  const auto err = load_error(s.json());
  EXPECT_HAS(err, "pre_tokenizer.pattern.Regex: unsupported regex \"\\p{L}+|\\s+\"");
}

TEST(BpeTokenizerErrors, MergeOfATokenNotInTheVocabularyIsRefused) {
  spec s;
  s.vocab = R"({"a": 0, "b": 1, "ab": 2})";
  s.merges = R"(["a b", "a c"])";
  EXPECT_HAS(load_error(s.json()), "model.merges[1]: merge of \"a\" and \"c\": \"c\" is not in");
  s = spec{};
  s.merges = R"(["a b"])";
  EXPECT_HAS(load_error(s.json()), "their merge \"ab\" is not in the vocabulary");
  s.merges = R"(["a b c"])";
  EXPECT_HAS(load_error(s.json()), "model.merges[0]: expected \"left right\" with one space");
}

TEST(BpeTokenizerErrors, VocabularyProblemsAreRefused) {
  spec s;
  s.vocab = R"({"a": 0, "b": 0})";
  EXPECT_HAS(load_error(s.json()), "id 0 is given to both \"a\" and \"b\"");
  s.vocab = R"({"a": 0, "a": 1})";
  EXPECT_HAS(load_error(s.json()), "token \"a\" appears twice");
  s.vocab = R"({"a": "0"})";
  EXPECT_HAS(load_error(s.json()), "model.vocab[\"a\"]: expected an integer id, got string");
  s.vocab = R"({"a": -1})";
  EXPECT_HAS(load_error(s.json()), "id -1 is outside");
}

TEST(BpeTokenizerErrors, UnsupportedSettingsAreRefusedByName) {
  auto refuse = [](spec s, const std::string& needle) { EXPECT_HAS(load_error(s.json()), needle); };
  spec s;
  s.model_extra = R"("dropout": 0.1, )";
  refuse(s, "model.dropout: must be null or 0");
  s = spec{};
  s.model_extra = R"("unk_token": "<unk>", )";
  refuse(s, "model.unk_token: unk_token \"<unk>\" is not in the vocabulary");
  s = spec{};
  s.normalizer = R"({"type": "Lowercase"})";
  refuse(s, "normalizer.type: unsupported normalizer \"Lowercase\"");
  s = spec{};
  s.pre_tokenizer = R"({"type": "Metaspace", "replacement": "_"})";
  refuse(s, "pre_tokenizer.type: unsupported pre-tokenizer \"Metaspace\"");
  s = spec{};
  s.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split",
                       "pattern": {"String": " "}, "behavior": "Isolated", "invert": false}]})";
  refuse(s, "pre_tokenizer.pretokenizers[0].pattern: expected {\"Regex\"");
  s.pre_tokenizer = split_then_byte_level(split_regex::gpt2);
  s.pre_tokenizer.replace(s.pre_tokenizer.find("Isolated"), 8, "Removed");
  refuse(s, "unsupported split behavior \"Removed\"");
  s = spec{};
  s.decoder = R"({"type": "WordPiece"})";
  refuse(s, "decoder.type: unsupported decoder \"WordPiece\"");
  s = spec{};
  s.top_extra = R"("truncation": {"max_length": 8}, )";
  refuse(s, "truncation: must be null");
}

TEST(BpeTokenizerErrors, AddedTokenProblemsAreRefused) {
  spec s;
  s.added = R"([{"id": 2, "content": "<x>", "single_word": true}])";
  EXPECT_HAS(load_error(s.json()), "added_tokens[0].single_word: single_word tokens are not");
  s.added = R"([{"id": 5, "content": "<x>"}])";
  EXPECT_HAS(load_error(s.json()),
             "added_tokens[0].id: is 5 but tokenizers would give \"<x>\" id 2");
  s.added = R"([{"id": 1, "content": "a"}])";
  EXPECT_HAS(load_error(s.json()), "tokenizers would give \"a\" id 0");
  s.added = R"([{"id": 2, "content": "<x>"}, {"id": 3, "content": "<x>"}])";
  EXPECT_HAS(load_error(s.json()), "added_tokens[1]: content \"<x>\" appears twice");
  s.added = R"([{"id": 2, "content": ""}])";
  EXPECT_HAS(load_error(s.json()), "added_tokens[0].content: missing or empty");
}

TEST(BpeTokenizerErrors, MissingFileIsAnIoFailure) {
  auto tok = load_tokenizer_json(hf_dir + "/missing/tokenizer.json");
  ASSERT_FALSE(tok);
  EXPECT_TRUE(is(tok.error(), errc::io_failure));
}

} // namespace
} // namespace tandem
