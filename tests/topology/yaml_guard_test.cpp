// yaml_guard_test: text on which yaml-cpp 0.7 never returns is refused with
// a position first (found by fuzz/fuzz_run_config.cpp); valid YAML with ','
// where YAML allows it passes.
#include "topology/internal/yaml_guard.hpp"

#include <gtest/gtest.h>

#include "topology/cluster_loader.hpp"
#include "topology/config_loader.hpp"

namespace tandem {
namespace {

using internal::find_stray_flow_entry;

TEST(YamlGuard, ACommaStartingATopLevelTokenIsReportedWhereItIs) {
  for (const char* text : {",", " ,", "\n,", "\"a\" ,", "[a] ,", "&x ,", "!t ,", "#c\n ,",
                           "{a: 1} ,", "&s,", "!t,", "%YAML 1.2\n--- \"a\" ,", "'a',"}) {
    auto at = find_stray_flow_entry(text);
    ASSERT_TRUE(at) << text;
  }
  EXPECT_TRUE(find_stray_flow_entry(std::string_view("\0,", 2))); // the second finding
  auto at = find_stray_flow_entry("run:\n  steps: 3\n\"x\" ,\n");
  ASSERT_TRUE(at);
  EXPECT_EQ(at->line, 3);
  EXPECT_EQ(at->column, 5);
}

TEST(YamlGuard, CommasInsideFlowCollectionsPlainScalarsQuotesAndBlockScalarsPass) {
  for (const char* text :
       {"a: [1, 2]\n", "a: {b: 1, c: [2, 3]}\n", "a: b, c ,\n", "a: it's, ok\n",
        "a: \"x, y\"\n", "a: 'x, ''y'''\n", "p: |\n  , x\n  y\nq: 1\n", "p: >-\n  ,\n",
        "# a, comment\na: 1 # b, c\n", "- a, b\n- [c, d]\n"})
    EXPECT_FALSE(find_stray_flow_entry(text)) << text;
}

// The fuzzer's input, reduced: parse_run_config used to spin forever inside
// YAML::LoadAll; it now reports a syntax error at once.
TEST(YamlGuard, TheLoadersRefuseTheInputYamlCppLoopsOn) {
  auto r = parse_run_config("run: {steps: 2}\n\"a\" ,\n", "hang.yaml");
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].to_string(),
            "hang.yaml:2:5: YAML syntax error: ',' outside [ ] or { } (quote the value "
            "if it starts with ',')");
  EXPECT_FALSE(parse_cluster_text(",", "hang.yaml").declared);
}

} // namespace
} // namespace tandem
