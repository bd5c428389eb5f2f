// json_reader_test.cpp: the JSON DOM parser: values, escapes, numbers,
// positions, duplicate keys refused on request, and an error with
// line:column for each kind of malformed input.
#include "runtime/json_reader.hpp"

#include <gtest/gtest.h>

#include "runtime/error.hpp"

namespace tandem {
namespace {

json_value parse_ok(std::string_view text) {
  auto v = parse_json(text);
  EXPECT_TRUE(v) << text << ": " << describe(v.error());
  return v ? std::move(*v) : json_value{};
}

// The error text of a document that must not parse.
std::string parse_error(std::string_view text) {
  auto v = parse_json(text);
  EXPECT_FALSE(v) << "parsed: " << text;
  if (v)
    return {};
  EXPECT_TRUE(is(v.error(), errc::invalid_config)) << describe(v.error());
  return describe(v.error());
}

TEST(JsonReader, ParsesEveryKindOfValue) {
  auto v = parse_ok(R"( {"a": [1, -2.5, true, false, null], "b": {"c": "d"}, "e": {}, "f": []} )");
  ASSERT_NE(v.as_object(), nullptr);
  ASSERT_EQ(v.as_object()->size(), 4u);
  const auto* a = v.find("a")->as_array();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->size(), 5u);
  EXPECT_EQ(*(*a)[0].as_integer(), 1);
  EXPECT_EQ((*a)[1].as_number()->value, -2.5);
  EXPECT_EQ((*a)[1].as_integer(), nullptr);
  EXPECT_TRUE(*(*a)[2].as_bool());
  EXPECT_FALSE(*(*a)[3].as_bool());
  EXPECT_TRUE((*a)[4].is_null());
  EXPECT_EQ(*v.find("b")->find("c")->as_string(), "d");
  EXPECT_TRUE(v.find("e")->as_object()->empty());
  EXPECT_TRUE(v.find("f")->as_array()->empty());
  EXPECT_STREQ(v.find("f")->type_name(), "array");
}

TEST(JsonReader, AccessorsOfAnotherKindReturnNull) {
  auto v = parse_ok(R"("text")");
  EXPECT_EQ(v.as_array(), nullptr);
  EXPECT_EQ(v.as_object(), nullptr);
  EXPECT_EQ(v.as_number(), nullptr);
  EXPECT_EQ(v.as_bool(), nullptr);
  EXPECT_EQ(v.find("x"), nullptr);
}

TEST(JsonReader, FindReturnsTheFirstOfDuplicateKeysAndNullWhenMissing) {
  auto v = parse_ok(R"({"k": 1, "k": 2})");
  EXPECT_EQ(*v.find("k")->as_integer(), 1);
  EXPECT_EQ(v.as_object()->size(), 2u);
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonReader, UniqueKeysRefusesAKeyTwiceInAnyObjectAtItsSecondPlace) {
  const json_options unique{/*unique_keys=*/true};
  EXPECT_TRUE(parse_json(R"({"a": {"k": 1}, "b": {"k": 2}})", {}, unique));
  auto top = parse_json("{\"k\": 1,\n \"k\": 2}", "x.json", unique);
  ASSERT_FALSE(top);
  EXPECT_NE(describe(top.error()).find("x.json:2:2: duplicate key \"k\" (first at 1:2)"),
            std::string::npos) << describe(top.error());
  auto nested = parse_json(R"([{"a": [{"z": 0, "z": 0}]}])", {}, unique);
  ASSERT_FALSE(nested);
  EXPECT_NE(describe(nested.error()).find("1:18: duplicate key \"z\" (first at 1:10)"),
            std::string::npos) << describe(nested.error());
}

TEST(JsonReader, ErrorCodeCanBeChosenForDataFiles) {
  auto v = parse_json("[1,]", "h", json_options{false, errc::malformed_message});
  ASSERT_FALSE(v);
  EXPECT_TRUE(is(v.error(), errc::malformed_message)) << describe(v.error());
  EXPECT_NE(describe(v.error()).find("h:1:4: expected a value"), std::string::npos);
}

TEST(JsonReader, DecodesAllEscapesAndSurrogatePairsToUtf8) {
  auto v = parse_ok(R"("q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u4e2d\ud83d\ude42")");
  EXPECT_EQ(*v.as_string(), "q\" b\\ s/ \b\f\n\r\t A\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x99\x82");
}

TEST(JsonReader, KeepsRawUtf8InStrings) {
  auto v = parse_ok("[\"Stra\xC3\x9F" "e \xF0\x9F\x9A\x80\"]");
  EXPECT_EQ(*(*v.as_array())[0].as_string(), "Stra\xC3\x9F" "e \xF0\x9F\x9A\x80");
}

TEST(JsonReader, IntegersAreExactAndOtherNumbersAreDoubles) {
  auto v = parse_ok("[9007199254740993, -0, 1e3, 0.5, 1E-2, 99999999999999999999]");
  const auto& a = *v.as_array();
  EXPECT_EQ(*a[0].as_integer(), 9007199254740993LL);
  EXPECT_EQ(*a[1].as_integer(), 0);
  EXPECT_EQ(a[2].as_integer(), nullptr);
  EXPECT_EQ(a[2].as_number()->value, 1000.0);
  EXPECT_EQ(a[3].as_number()->value, 0.5);
  EXPECT_DOUBLE_EQ(a[4].as_number()->value, 0.01);
  EXPECT_EQ(a[5].as_integer(), nullptr); // beyond int64: only the double
  EXPECT_DOUBLE_EQ(a[5].as_number()->value, 1e20);
}

TEST(JsonReader, ValuesRememberWhereTheyStart) {
  auto v = parse_ok("{\n  \"a\": [1,\n    \"x\"]\n}");
  EXPECT_EQ(v.where(), "1:1");
  EXPECT_EQ(v.find("a")->where(), "2:8");
  EXPECT_EQ((*v.find("a")->as_array())[1].where(), "3:5");
}

TEST(JsonReader, ErrorsNameLineAndColumn) {
  EXPECT_NE(parse_error("{\n  \"a\": tru\n}").find("2:8: expected a value"), std::string::npos);
  EXPECT_NE(parse_error("{\"a\" 1}").find("1:6: expected ':'"), std::string::npos);
  EXPECT_NE(parse_error("[1,\n2,\n]").find("3:1: expected a value, got ']'"), std::string::npos);
  EXPECT_NE(parse_error("{\"a\":1,}").find("1:8: expected a string key"), std::string::npos);
  EXPECT_NE(parse_error("[1 2]").find("1:4: expected ',' or ']'"), std::string::npos);
  EXPECT_NE(parse_error("{} x").find("1:4: unexpected 'x' after the document"),
            std::string::npos);
}

TEST(JsonReader, NamesYamlAndJavaScriptFormsThatJsonLacks) {
  EXPECT_NE(parse_error("{question: 1}").find("1:2: object keys must be quoted strings, got 'q'"),
            std::string::npos);
  EXPECT_NE(parse_error("{'a': 1}").find("1:2: expected a string key in object, got a single "
                                         "quote (JSON strings use double quotes)"),
            std::string::npos);
  EXPECT_NE(parse_error("[1, 'a']").find("1:5: expected a value, got a single quote (JSON "
                                         "strings use double quotes)"),
            std::string::npos);
  EXPECT_NE(parse_error("{\"a\": 1 # note\n}").find("1:9: expected ',' or '}' in object, "
                                                   "got '#' (JSON has no comments)"),
            std::string::npos);
  EXPECT_NE(parse_error("[1] // note").find("1:5: unexpected '/' after the document (JSON "
                                            "has no comments)"),
            std::string::npos);
  EXPECT_NE(parse_error("[/* note */ 1]").find("(JSON has no comments)"), std::string::npos);
  // A lone slash is only unexpected.
  EXPECT_EQ(parse_error("[/]").find("comments"), std::string::npos);
}

TEST(JsonReader, PrefixParseStopsAfterTheFirstValue) {
  size_t consumed = 99;
  auto v = parse_json_prefix("  {\"a\": [1]} trailing {", consumed);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(consumed, 12u);
  EXPECT_EQ(*(*v->find("a")->as_array())[0].as_integer(), 1);
  consumed = 99;
  auto bad = parse_json_prefix("{\"a\": } x", consumed, "s");
  ASSERT_FALSE(bad);
  EXPECT_EQ(consumed, 99u);
  EXPECT_NE(describe(bad.error()).find("s:1:7: expected a value, got '}'"), std::string::npos)
    << describe(bad.error());
}

TEST(JsonReader, RefusesMalformedStrings) {
  EXPECT_NE(parse_error("\"abc").find("unterminated string"), std::string::npos);
  EXPECT_NE(parse_error("\"a\nb\"").find("control character"), std::string::npos);
  EXPECT_NE(parse_error(R"("\x")").find("unknown escape"), std::string::npos);
  EXPECT_NE(parse_error(R"("\u12G4")").find("hex digit"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ud83d")").find("leading surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ude42")").find("lone trailing surrogate"), std::string::npos);
  EXPECT_NE(parse_error("\"\xC3\x28\"").find("invalid UTF-8"), std::string::npos);
  EXPECT_NE(parse_error("\"\xED\xA0\x80\"").find("invalid UTF-8"), std::string::npos); // surrogate
  EXPECT_NE(parse_error("\"\xC0\xAF\"").find("invalid UTF-8"), std::string::npos);     // overlong
}

TEST(JsonReader, RefusesMalformedNumbersAndLiterals) {
  EXPECT_NE(parse_error("01").find("leading zero"), std::string::npos);
  EXPECT_NE(parse_error("1.").find("after '.'"), std::string::npos);
  EXPECT_NE(parse_error("1e").find("exponent"), std::string::npos);
  EXPECT_NE(parse_error("-").find("expected a digit"), std::string::npos);
  EXPECT_NE(parse_error("1e999").find("out of range"), std::string::npos);
  EXPECT_NE(parse_error("nul").find("expected a value"), std::string::npos);
  EXPECT_NE(parse_error("").find("end of input"), std::string::npos);
  EXPECT_NE(parse_error("\xEF\xBB\xBF{}").find("1:1"), std::string::npos); // BOM
}

TEST(JsonReader, BoundsNestingDepth) {
  const std::string ok = std::string(200, '[') + std::string(200, ']');
  EXPECT_TRUE(parse_json(ok));
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(parse_error(deep).find("nesting deeper than 256"), std::string::npos);
}

TEST(JsonReader, SourceNamePrefixesErrors) {
  auto v = parse_json("[", "cfg.json");
  ASSERT_FALSE(v);
  EXPECT_NE(describe(v.error()).find("cfg.json:1:2: expected a value"), std::string::npos);
}

TEST(JsonReader, ReadsFilesAndReportsMissingOnes) {
  auto doc = read_json_file(TANDEM_TEST_DATA_DIR "/hf/tokenizer-gpt2/tokenizer.json");
  ASSERT_TRUE(doc) << describe(doc.error());
  EXPECT_EQ(*doc->find("model")->find("type")->as_string(), "BPE");
  auto missing = read_json_file(TANDEM_TEST_DATA_DIR "/hf/no-such-file.json");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), errc::io_failure));
  EXPECT_NE(describe(missing.error()).find("no-such-file.json"), std::string::npos);
}

TEST(JsonReader, ParsesALargeTokenizerShapedDocument) {
  // 150k-entry vocab and 150k merges, the size of a real Qwen2 tokenizer.json.
  std::string text = "{\"vocab\": {";
  for (int i = 0; i < 150000; ++i)
    text += (i ? ",\n" : "") + std::string("\"t") + std::to_string(i) + "\": " + std::to_string(i);
  text += "}, \"merges\": [";
  for (int i = 0; i < 150000; ++i)
    text += (i ? ",\n" : "") + std::string("[\"t") + std::to_string(i) + "\", \"\\u0120x\"]";
  text += "]}";
  auto v = parse_json(text);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(v->find("vocab")->as_object()->size(), 150000u);
  EXPECT_EQ(*(*v->find("merges")->as_array())[149999].as_array()->at(1).as_string(),
            "\xC4\xA0x");
}

} // namespace
} // namespace tandem
