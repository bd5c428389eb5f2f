// json_writer_test.cpp: JSON quoting and number text, each checked against
// the text Python's json writes and read back through json_reader; atomic
// file writes.
#include "runtime/json_writer.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {
namespace {

TEST(JsonWriter, QuoteEscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_quote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(json_quote("\t\r\x1f"), "\"\\t\\r\\u001f\"");
  EXPECT_EQ(json_quote("caf\xC3\xA9 /"), "\"caf\xC3\xA9 /\""); // UTF-8 and '/' as they are
}

TEST(JsonWriter, QuotedStringsReadBackUnchanged) {
  std::string all_ascii;
  for (int c = 1; c < 0x80; ++c)
    all_ascii += static_cast<char>(c);
  for (const std::string& s : {all_ascii, std::string("\xF0\x9F\x9A\x80 e\xCC\x81"),
                               std::string()}) {
    auto v = parse_json(json_quote(s));
    ASSERT_TRUE(v) << describe(v.error());
    EXPECT_EQ(*v->as_string(), s);
  }
}

TEST(JsonWriter, NumbersAreWrittenShortestAndReadBackExactly) {
  EXPECT_EQ(json_number_text(1e-6), "1e-06");
  EXPECT_EQ(json_number_text(10000.0), "10000.0");
  EXPECT_EQ(json_number_text(1000000.0), "1000000.0");
  EXPECT_EQ(json_number_text(0.1), "0.1");
  for (double x : {1e-6, 0.1, 1.0 / 3.0, 1e300, -2.5e-308, 123456.789}) {
    auto v = parse_json(json_number_text(x));
    ASSERT_TRUE(v) << json_number_text(x);
    EXPECT_EQ(v->as_number()->value, x) << json_number_text(x);
  }
}

TEST(JsonWriter, WriteFileReplacesTheFileAndLeavesNoTemporary) {
  const auto path = (std::filesystem::temp_directory_path()
                     / ("tandem_json_writer_" + std::to_string(::getpid()) + ".json"))
                      .string();
  ASSERT_FALSE(write_json_file(path, "{\"a\": 1}\n"));
  ASSERT_FALSE(write_json_file(path, "{\"a\": 2}\n"));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "{\"a\": 2}\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
  auto err = write_json_file("/nonexistent-dir/x.json", "{}");
  EXPECT_TRUE(is(err, errc::io_failure)) << describe(err);
}

} // namespace
} // namespace tandem
