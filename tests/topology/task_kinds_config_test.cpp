// task_kinds_config_test: the countdown and multidigit task kinds in a run
// config: their keys, their range rules at FILE:LINE:COL, keys that do
// nothing with another kind, and the prompt-length rule for their questions.
#include "topology/config_loader.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tandem {
namespace {

config_result parse(const std::string& text) {
  return parse_run_config(text, "test.yaml");
}

std::string all_issues(const config_result& r) {
  std::string out;
  for (const auto& i : r.issues)
    out += i.to_string() + "\n";
  return out;
}

void expect_single(const config_result& r, const std::string& field, const std::string& text,
                   int line = -1, int column = -1) {
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r);
  const auto& i = r.issues[0];
  EXPECT_EQ(i.field, field) << i.to_string();
  EXPECT_NE(i.message.find(text), std::string::npos) << i.to_string();
  if (line >= 0) {
    EXPECT_EQ(i.line, line) << i.to_string();
  }
  if (column >= 0) {
    EXPECT_EQ(i.column, column) << i.to_string();
  }
}

// A model roomy enough for every prompt below.
const std::string roomy = "model:\n  max_seq_len: 128\n";

TEST(TaskKindsConfig, CountdownKeysBindWithTheSharedSeed) {
  auto r = parse(roomy + "task:\n  kind: countdown\n  numbers: 2..5\n  max_number: 50\n"
                         "  max_target: 500\n  seed: 9\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& c = r.config.task.countdown;
  EXPECT_EQ(c.min_numbers, 2);
  EXPECT_EQ(c.max_numbers, 5);
  EXPECT_EQ(c.max_number, 50);
  EXPECT_EQ(c.max_target, 500);
  EXPECT_EQ(c.seed, 9u);
  auto single = parse(roomy + "task:\n  kind: countdown\n  numbers: 4\n");
  ASSERT_TRUE(single.ok()) << all_issues(single);
  EXPECT_EQ(single.config.task.countdown.min_numbers, 4);
  EXPECT_EQ(single.config.task.countdown.max_numbers, 4);
}

TEST(TaskKindsConfig, CountdownPromptMustFit) {
  // "Use 100,100,100,100 to make 100:" = 32 bytes, 34 tokens with the tags.
  auto r = parse("model:\n  max_seq_len: 41\ntask:\n  kind: countdown\n"
                 "sampler:\n  max_new_tokens: 8\n");
  expect_single(r, "model.max_seq_len", "the longest prompt has 34 tokens", 2, 16);
  EXPECT_TRUE(parse("model:\n  max_seq_len: 42\ntask:\n  kind: countdown\n"
                    "sampler:\n  max_new_tokens: 8\n").ok());
  EXPECT_TRUE(parse("task:\n  kind: countdown\n").ok()); // the default model fits
}

TEST(TaskKindsConfig, CountdownRangeRulesSitAtTheirFields) {
  const std::string head = roomy + "task:\n  kind: countdown\n";
  expect_single(parse(head + "  numbers: 1..4\n"), "task.numbers",
                "must lie in 2..6 (got 1..4)", 5, 12);
  expect_single(parse(head + "  numbers: 4..3\n"), "task.numbers", "is empty", 5, 12);
  expect_single(parse(head + "  numbers: three\n"), "task.numbers",
                "expected a count N or a range A..B (got 'three')", 5, 12);
  expect_single(parse(head + "  numbers: 3...4\n"), "task.numbers", "got '3...4'");
  expect_single(parse(head + "  numbers: [3, 4]\n"), "task.numbers", "got a list");
  expect_single(parse(head + "  max_number: 0\n"), "task.max_number", "must be in 1..1000000",
                5, 15);
  expect_single(parse(head + "  max_number: 200\n  max_target: 150\n"), "task.max_target",
                "must be >= max_number 200", 6, 15);
  expect_single(parse(head + "  max_number: 2x\n"), "task.max_number", "expected");
}

TEST(TaskKindsConfig, MultidigitKeysAndOverflowRule) {
  auto r = parse(roomy + "task:\n  kind: multidigit\n  digits: 3..9\n  ops: \"+*\"\n"
                         "  seed: 4\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& m = r.config.task.multidigit;
  EXPECT_EQ(m.min_digits, 3);
  EXPECT_EQ(m.max_digits, 9);
  EXPECT_EQ(m.ops, "+*");
  EXPECT_EQ(m.seed, 4u);
  expect_single(parse(roomy + "task:\n  kind: multidigit\n  digits: 2..10\n  ops: \"+*\"\n"),
                "task.digits", "at most 9 digits with '*'", 5, 11);
  EXPECT_TRUE(parse(roomy + "task:\n  kind: multidigit\n  digits: 2..18\n  ops: \"+-\"\n").ok());
  expect_single(parse(roomy + "task:\n  kind: multidigit\n  ops: \"+/\"\n"), "task.ops",
                "unknown operator '/'");
}

TEST(TaskKindsConfig, MultidigitPromptMustFit) {
  // 5 + op + 5 + '=' = 12 bytes, 14 tokens with the tags, plus 8 new.
  auto r = parse("model:\n  max_seq_len: 21\ntask:\n  kind: multidigit\n"
                 "sampler:\n  max_new_tokens: 8\n");
  expect_single(r, "model.max_seq_len", "longest prompt has 14 tokens");
  EXPECT_TRUE(parse("model:\n  max_seq_len: 22\ntask:\n  kind: multidigit\n"
                    "sampler:\n  max_new_tokens: 8\n").ok());
}

TEST(TaskKindsConfig, KeysOfOtherKindsHaveNoEffect) {
  expect_single(parse(roomy + "task:\n  kind: countdown\n  max_operand: 9\n"),
                "task.max_operand", "has no effect with task.kind: countdown", 5, 16);
  expect_single(parse(roomy + "task:\n  kind: countdown\n  ops: \"+\"\n"), "task.ops",
                "has no effect with task.kind: countdown");
  expect_single(parse(roomy + "task:\n  kind: multidigit\n  numbers: 3\n"), "task.numbers",
                "has no effect with task.kind: multidigit");
  expect_single(parse("task:\n  digits: 3\n"), "task.digits",
                "has no effect with task.kind: arithmetic", 2, 11);
  expect_single(parse("task:\n  max_target: 30\n"), "task.max_target",
                "has no effect with task.kind: arithmetic");
}

TEST(TaskKindsConfig, UnknownKindSuggestsTheNewKinds) {
  expect_single(parse("task:\n  kind: countdwn\n"), "task.kind", "did you mean 'countdown'?");
  expect_single(parse("task:\n  kind: multdigit\n"), "task.kind", "did you mean 'multidigit'?");
  expect_single(parse("task:\n  kind: sudoku\n"), "task.kind",
                "use arithmetic, countdown, multidigit, jsonl or gsm8k");
}

TEST(TaskKindsConfig, DebugCountdownConfigLoadsClean) {
  auto r = load_run_config(std::string(TANDEM_SOURCE_DIR) + "/configs/debug/countdown.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.task.kind, "countdown");
  EXPECT_EQ(r.config.task.countdown.max_target, 50);
}

} // namespace
} // namespace tandem
