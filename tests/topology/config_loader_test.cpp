// config_loader_test: YAML run configs -> run_config, and every kind of
// mistake reported with its file, line, column and field.
#include "topology/config_loader.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "tests/runtime/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tandem;

namespace {

config_result parse(const std::string& text) {
  return parse_run_config(text, "test.yaml");
}

const config_issue* find_issue(const config_result& r, const std::string& field) {
  for (const auto& i : r.issues)
    if (i.field == field)
      return &i;
  return nullptr;
}

std::string all_issues(const config_result& r) {
  std::string out;
  for (const auto& i : r.issues)
    out += i.to_string() + "\n";
  return out;
}

// Expects exactly one issue, at `field`, whose message contains `text`.
void expect_single(const config_result& r, const std::string& field,
                   const std::string& text, int line = -1, int column = -1) {
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

// A fresh directory under the system temp dir, removed afterwards.
class ConfigFiles : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("tandem_config_test_" + std::string(info->name()) + "_"
              + std::to_string(::getpid()));
    tandem::test::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { tandem::test::remove_tree(dir_); }
  std::string write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

const std::string source_dir = TANDEM_SOURCE_DIR;

} // namespace

TEST(ConfigLoader, DefaultRunFileLoadsCleanWithItsValues) {
  auto r = load_run_config(source_dir + "/configs/basic/run.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& c = r.config;
  EXPECT_EQ(c.source_path, source_dir + "/configs/basic/run.yaml");
  EXPECT_EQ(c.run.name, "basic");
  EXPECT_EQ(c.run.seed, 1u);
  EXPECT_EQ(c.run.steps, 3000);
  EXPECT_EQ(c.run.groups_per_step, 16);
  EXPECT_EQ(c.run.group_size, 16);
  EXPECT_EQ(c.run.max_staleness, 1);
  EXPECT_EQ(c.run.output_dir, "runs/basic");
  EXPECT_DOUBLE_EQ(c.run.target_reward, 0.95);
  EXPECT_EQ(c.model.vocab_size, 0);
  EXPECT_EQ(c.model.hidden_size, 64);
  EXPECT_EQ(c.model.num_layers, 2);
  EXPECT_EQ(c.model.num_heads, 4);
  EXPECT_EQ(c.model.num_kv_heads, 2);
  EXPECT_EQ(c.model.intermediate_size, 176);
  EXPECT_EQ(c.model.max_seq_len, 24);
  EXPECT_EQ(c.task.kind, "arithmetic");
  EXPECT_EQ(c.task.arithmetic.min_operand, 0);
  EXPECT_EQ(c.task.arithmetic.max_operand, 4);
  EXPECT_EQ(c.task.arithmetic.ops, "+");
  EXPECT_EQ(c.task.arithmetic.seed, 7u);
  EXPECT_EQ(c.sampler.count, 2);
  EXPECT_EQ(c.sampler.processes, 0);
  EXPECT_EQ(c.sampler.groups_per_request, 4);
  EXPECT_EQ(c.sampler.threads, 1);
  EXPECT_DOUBLE_EQ(c.sampler.sampling.temperature, 1.0);
  EXPECT_DOUBLE_EQ(c.sampler.sampling.top_p, 1.0);
  EXPECT_EQ(c.sampler.sampling.max_new_tokens, 6);
  EXPECT_TRUE(c.sampler.sampling.stop_tokens.empty());
  EXPECT_DOUBLE_EQ(c.reward.weights.accuracy, 0.9);
  EXPECT_DOUBLE_EQ(c.reward.weights.format, 0.1);
  EXPECT_DOUBLE_EQ(c.learner.optimizer.lr, 0.0003);
  EXPECT_DOUBLE_EQ(c.learner.optimizer.weight_decay, 0);
  EXPECT_DOUBLE_EQ(c.learner.optimizer.beta1, 0.9);
  EXPECT_DOUBLE_EQ(c.learner.optimizer.beta2, 0.99);
  EXPECT_DOUBLE_EQ(c.learner.optimizer.grad_clip, 1.0);
  EXPECT_EQ(c.learner.grpo.scaling, std_scaling::group);
  EXPECT_DOUBLE_EQ(c.learner.grpo.eps_low, 0.2);
  EXPECT_DOUBLE_EQ(c.learner.grpo.eps_high, 0.28);
  EXPECT_DOUBLE_EQ(c.learner.grpo.kl_beta, 0);
  EXPECT_EQ(c.learner.grpo.aggregation, loss_aggregation::token_mean);
  EXPECT_TRUE(c.learner.grpo.decoupled);
  EXPECT_DOUBLE_EQ(c.learner.grpo.behav_weight_cap, 5);
  EXPECT_EQ(c.learner.mini_batches, 1);
  EXPECT_EQ(c.learner.threads, 1);
  EXPECT_DOUBLE_EQ(c.timeouts.generate_s, 120);
  EXPECT_DOUBLE_EQ(c.timeouts.score_s, 30);
  EXPECT_DOUBLE_EQ(c.timeouts.train_s, 300);
  EXPECT_DOUBLE_EQ(c.timeouts.connect_s, 30);
}

TEST(ConfigLoader, DebugTwoDigitFileLoadsClean) {
  auto r = load_run_config(source_dir + "/configs/debug/arithmetic-2digit.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.task.arithmetic.max_operand, 99);
  EXPECT_EQ(r.config.task.arithmetic.ops, "+-");
  EXPECT_EQ(r.config.model.hidden_size, 128);
  EXPECT_EQ(r.config.run.groups_per_step, 20);
  EXPECT_EQ(r.config.sampler.sampling.max_new_tokens, 8);
}

TEST(ConfigLoader, EmptySectionsTakeStructDefaults) {
  auto r = parse("run:\nmodel: {}\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.run.steps, run_section{}.steps);
  EXPECT_EQ(r.config.model.max_seq_len, model_config{}.max_seq_len);
}

TEST(ConfigLoader, ReportsAllThreeMistakesWithPositions) {
  auto r = parse("run:\n"
                 "  steps: 0\n"          // line 2: out of range
                 "learner:\n"
                 "  lr: fast\n"          // line 4: wrong type
                 "  std_scaling: grop\n" // line 5: unknown enum value
                 "");
  ASSERT_EQ(r.issues.size(), 3u) << all_issues(r);
  EXPECT_EQ(r.issues[0].to_string(), "test.yaml:2:10: run.steps: must be >= 1 (got 0)");
  EXPECT_EQ(r.issues[1].field, "learner.lr");
  EXPECT_EQ(r.issues[1].line, 4);
  EXPECT_EQ(r.issues[1].column, 7);
  EXPECT_NE(r.issues[1].message.find("expected a finite number"), std::string::npos);
  EXPECT_EQ(r.issues[2].field, "learner.std_scaling");
  EXPECT_EQ(r.issues[2].line, 5);
  EXPECT_EQ(r.issues[2].column, 16);
  EXPECT_NE(r.issues[2].message.find("group, batch, none"), std::string::npos);
}

TEST(ConfigLoader, UnknownKeySuggestsTheClosestField) {
  auto r = parse("learner:\n  lrr: 0.1\n");
  expect_single(r, "learner.lrr", "unknown field; did you mean 'lr'?", 2, 3);
  auto far = parse("sampler:\n  banana: 1\n");
  expect_single(far, "sampler.banana", "unknown field (known:");
  auto section = parse("modle:\n  hidden_size: 64\n");
  expect_single(section, "modle", "did you mean 'model'?", 1, 1);
}

TEST(ConfigLoader, WrongTypesNameTheExpectedType) {
  expect_single(parse("run:\n  steps: abc\n"), "run.steps", "expected a 32-bit integer", 2,
                10);
  expect_single(parse("run:\n  steps: 2.5\n"), "run.steps", "fractional value 2.5");
  expect_single(parse("run:\n  steps: 1e3\n"), "run.steps", "got '1e3'", 2, 10);
  expect_single(parse("run:\n  steps: 5x\n"), "run.steps", "got '5x'", 2, 10);
  expect_single(parse("run:\n  seed: 99999999999999999999999\n"), "run.seed", "out of range");
  expect_single(parse("run:\n  steps: 3000000000\n"), "run.steps", "out of range");
  expect_single(parse("run:\n  steps: [1, 2]\n"), "run.steps", "got a list");
  expect_single(parse("run:\n  seed: -1\n"), "run.seed", "non-negative");
  expect_single(parse("model:\n  tie_embeddings: maybe\n"), "model.tie_embeddings",
                "expected true or false");
  expect_single(parse("run:\n  steps:\n"), "run.steps", "got nothing", 2, 3);
  expect_single(parse("run: 5\n"), "run", "expected a mapping");
}

TEST(ConfigLoader, StringsThatAreNotUtf8AreRefusedWithTheirLine) {
  // A lone surrogate (bytes ED A0 80), an overlong '/' and a stray byte.
  expect_single(parse("run:\n  steps: 5\n  name: \"ab\xED\xA0\x80\"\n"), "run.name",
                "not valid UTF-8 (invalid UTF-8 at byte 3)", 3);
  expect_single(parse("run:\n  name: \xC0\xAF\n"), "run.name", "not valid UTF-8", 2);
  expect_single(parse("console:\n  bind: \"x\xFF\"\n"), "console.bind",
                "invalid UTF-8 at byte 2", 2);
}

TEST(ConfigLoader, DuplicateKeyIsReportedAtItsSecondOccurrence) {
  auto r = parse("run:\n  steps: 5\n  group_size: 4\n  steps: 7\n");
  expect_single(r, "run.steps", "duplicate field", 4, 3);
}

TEST(ConfigLoader, SyntaxErrorCarriesItsPosition) {
  // A value and a nested mapping under one key: yaml-cpp stops at the ':'.
  auto r = parse("run: 1\n  steps: 2\n");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r);
  EXPECT_EQ(r.issues[0].to_string(), "test.yaml:2:8: YAML syntax error: illegal map value");
  auto flow = parse("run:\n  steps: [1, 2\nmodel:\n");
  ASSERT_EQ(flow.issues.size(), 1u) << all_issues(flow);
  EXPECT_GT(flow.issues[0].line, 0);
  EXPECT_NE(flow.issues[0].message.find("YAML syntax error"), std::string::npos);
  EXPECT_FALSE(parse("- 1\n- 2\n").ok());
  EXPECT_FALSE(parse("").ok());
}

TEST(ConfigLoader, MissingFileIsOneIssue) {
  auto r = load_run_config("/nonexistent/tandem/run.yaml");
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].to_string(), "/nonexistent/tandem/run.yaml: cannot open file");
  auto e = load_run_config_or_error("/nonexistent/tandem/run.yaml");
  ASSERT_FALSE(e);
  EXPECT_TRUE(is(e.error(), errc::invalid_config));
}

TEST(ConfigLoader, VocabSizeIsSetByTheProgram) {
  expect_single(parse("model:\n  vocab_size: 30\n"), "model.vocab_size",
                "set from the tokenizer; remove this field", 2, 3);
}

TEST_F(ConfigFiles, JsonlPathIsResolvedAgainstTheConfigDirectory) {
  write("data/train.jsonl", "{}\n");
  auto cfg = write("conf/run.yaml", "task:\n  kind: jsonl\n  path: ../data/train.jsonl\n");
  auto r = load_run_config(cfg);
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(fs::path(r.config.task.jsonl_path), (dir_ / "data/train.jsonl").lexically_normal());
}

TEST_F(ConfigFiles, JsonlPathMustExistAndBeGiven) {
  auto cfg = write("run.yaml", "task:\n  kind: jsonl\n  path: nope.jsonl\n");
  auto r = load_run_config(cfg);
  expect_single(r, "task.path", "file not found: " + (dir_ / "nope.jsonl").string(), 3, 9);
  auto missing = load_run_config(write("run2.yaml", "task:\n  kind: jsonl\n"));
  expect_single(missing, "task.path", "required with task.kind: jsonl");
}

TEST_F(ConfigFiles, SettingsThatDoNothingAreErrors) {
  write("d.jsonl", "{}\n");
  auto r = load_run_config(write("run.yaml", "task:\n  kind: jsonl\n  path: d.jsonl\n"
                                             "  max_operand: 99\n  ops: \"+-\"\n"));
  ASSERT_EQ(r.issues.size(), 2u) << all_issues(r);
  EXPECT_NE(find_issue(r, "task.max_operand"), nullptr);
  EXPECT_NE(r.issues[1].message.find("has no effect with task.kind: jsonl"), std::string::npos);
  expect_single(parse("task:\n  max_operand: 9\n  answer_width: 1\n"), "task.answer_width",
                "is narrower than the widest answer (2 digits for operands up to 9)");
  EXPECT_TRUE(parse("task:\n  max_operand: 9\n  answer_width: 2\n").ok());
  expect_single(parse("task:\n  path: d.jsonl\n"), "task.path",
                "has no effect with task.kind: arithmetic", 2, 9);
  expect_single(parse("learner:\n  constant_normalizer: 16\n"), "learner.constant_normalizer",
                "has no effect with learner.loss_aggregation: token_mean");
  EXPECT_TRUE(parse("learner:\n  loss_aggregation: constant_normalizer\n"
                    "  constant_normalizer: 16\n").ok());
  expect_single(parse("learner:\n  decoupled: false\n  behav_weight_cap: 3\n"),
                "learner.behav_weight_cap", "has no effect with learner.decoupled: false", 3,
                21);
  expect_single(parse("learner:\n  std_scaling: none\n  advantage_eps: 0.1\n"),
                "learner.advantage_eps", "has no effect");
}

TEST(ConfigLoader, HeadDimMustBeEven) {
  expect_single(parse("model:\n  hidden_size: 60\n  num_heads: 4\n  num_kv_heads: 2\n"),
                "model.hidden_size", "head_dim = hidden_size / num_heads = 15", 2, 16);
  expect_single(parse("model:\n  hidden_size: 64\n  num_heads: 3\n  num_kv_heads: 1\n"),
                "model.hidden_size", "divisible by model.num_heads");
}

TEST(ConfigLoader, KvHeadsMustDivideHeads) {
  expect_single(parse("model:\n  num_heads: 4\n  num_kv_heads: 3\n"), "model.num_kv_heads",
                "must divide model.num_heads (4 % 3 = 1)", 3, 17);
}

TEST(ConfigLoader, LongestPromptMustFitMaxSeqLen) {
  // 2-digit operands: <bos> 2 + op + 2 + '=' + <answer> = 8 tokens, plus 8 new.
  auto r = parse("model:\n  max_seq_len: 15\ntask:\n  max_operand: 99\n"
                 "sampler:\n  max_new_tokens: 8\n");
  expect_single(r, "model.max_seq_len", "longest prompt has 8 tokens", 2, 16);
  EXPECT_NE(r.issues[0].message.find("needing 16 (got 15)"), std::string::npos);
  EXPECT_TRUE(parse("model:\n  max_seq_len: 16\ntask:\n  max_operand: 99\n"
                    "sampler:\n  max_new_tokens: 8\n").ok());
}

TEST(ConfigLoader, GroupSizeOneHasNoBaseline) {
  expect_single(parse("run:\n  group_size: 1\n"), "run.group_size", "must be >= 2", 2, 15);
}

TEST(ConfigLoader, RangeRulesAcrossSections) {
  expect_single(parse("sampler:\n  count: 0\n  processes: 0\n"), "sampler.count",
                "no samplers");
  expect_single(parse("reward:\n  accuracy_weight: 0\n  format_weight: 0\n"
                      "run:\n  target_reward: 0\n"),
                "reward.accuracy_weight", "both 0");
  expect_single(parse("learner:\n  mini_batches: 200\n"), "learner.mini_batches",
                "<= run.groups_per_step * run.group_size = 128");
  expect_single(parse("task:\n  ops: \"+/\"\n"), "task.ops", "unknown operator '/'");
  expect_single(parse("task:\n  ops: \"++\"\n"), "task.ops", "listed twice");
  expect_single(parse("task:\n  kind: jsnol\n"), "task.kind", "did you mean 'jsonl'?");
  expect_single(parse("task:\n  min_operand: 5\n  max_operand: 3\n"), "task.min_operand",
                "must be <= task.max_operand");
  expect_single(parse("sampler:\n  top_p: 0\n"), "sampler.top_p", "(0, 1]");
  expect_single(parse("learner:\n  beta2: 1\n"), "learner.beta2", "[0, 1)");
  expect_single(parse("timeouts:\n  score_s: 0\n"), "timeouts.score_s", "must be > 0");
  expect_single(parse("reward:\n  processes: 2\n"), "reward.processes", "must be 0");
}

TEST_F(ConfigFiles, OrErrorJoinsEveryIssueIntoOneError) {
  auto path = write("bad.yaml", "run:\n  group_size: 1\nlearner:\n  lrr: 1\n");
  auto e = load_run_config_or_error(path);
  ASSERT_FALSE(e);
  EXPECT_TRUE(is(e.error(), errc::invalid_config));
  auto text = describe(e.error());
  EXPECT_NE(text.find("2 problem(s) in " + path), std::string::npos) << text;
  EXPECT_NE(text.find(path + ":2:15: run.group_size: must be >= 2"), std::string::npos) << text;
  EXPECT_NE(text.find(path + ":4:3: learner.lrr: unknown field; did you mean 'lr'?"),
            std::string::npos)
    << text;
  auto good = load_run_config_or_error(source_dir + "/configs/basic/run.yaml");
  ASSERT_TRUE(good) << describe(good.error());
  EXPECT_EQ(good->run.name, "basic");
}

TEST(RunConfig, MakeLearnerSettingsCopiesTheLearnerFields) {
  run_config c;
  c.run.seed = 42;
  c.model.hidden_size = 128;
  c.model.vocab_size = 30;
  c.learner.grpo.eps_high = 0.3;
  c.learner.grpo.aggregation = loss_aggregation::constant_normalizer;
  c.learner.optimizer.lr = 0.123;
  c.learner.mini_batches = 4;
  c.sampler.sampling.temperature = 0.7;
  c.sampler.sampling.max_new_tokens = 11;
  c.learner.ranks = 2;
  c.learner.zero_stage = 1;
  c.learner.grad_bucket_mb = 3;
  c.timeouts.train_s = 90;
  auto s = make_learner_settings(c);
  EXPECT_EQ(s.ranks, 2);
  EXPECT_EQ(s.zero_stage, 1);
  EXPECT_EQ(s.grad_bucket_bytes, 3 << 20);
  // A third of the step's deadline (run_config.cpp says why).
  EXPECT_EQ(s.collective_timeout_ms, 30000);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.model.hidden_size, 128);
  EXPECT_EQ(s.model.vocab_size, 30);
  EXPECT_DOUBLE_EQ(s.grpo.eps_high, 0.3);
  EXPECT_EQ(s.grpo.aggregation, loss_aggregation::constant_normalizer);
  EXPECT_DOUBLE_EQ(s.optimizer.lr, 0.123);
  EXPECT_EQ(s.mini_batches, 4);
  EXPECT_DOUBLE_EQ(s.temperature, 0.7);
  EXPECT_EQ(s.max_new_tokens, 11);
}

TEST(ConfigLoader, RewardPlugins) {
  auto ok = parse("reward:\n  kind: http\n  url: http://127.0.0.1:8000/score\n"
                  "  concurrency: 2\n  timeout_s: 3\n  retries: 1\n");
  ASSERT_TRUE(ok.issues.empty()) << all_issues(ok);
  EXPECT_EQ(ok.config.reward.kind, reward_kind::http);
  EXPECT_EQ(ok.config.reward.url, "http://127.0.0.1:8000/score");
  EXPECT_EQ(ok.config.reward.concurrency, 2);
  auto cmd = parse("reward:\n  kind: command\n  command: [python3, my_reward.py]\n"
                   "  instances: 2\n");
  ASSERT_TRUE(cmd.issues.empty()) << all_issues(cmd);
  EXPECT_EQ(cmd.config.reward.command, (std::vector<std::string>{"python3", "my_reward.py"}));
  EXPECT_EQ(cmd.config.reward.instances, 2);
  EXPECT_EQ(parse("run: {}\n").config.reward.kind, reward_kind::rules);
  expect_single(parse("reward:\n  kind: http\n"), "reward.kind", "reward.url");
  expect_single(parse("reward:\n  kind: command\n"), "reward.kind", "reward.command");
  expect_single(parse("reward:\n  kind: htp\n"), "reward.kind", "expected one of rules, math, http, command");
  expect_single(parse("reward:\n  url: http://x/\n"), "reward.url", "only with reward.kind: http");
  expect_single(parse("reward:\n  kind: http\n  url: x:80/score\n"), "reward.url",
                "http://");
  expect_single(parse("reward:\n  kind: command\n  command: [x]\n  instances: 0\n"),
                "reward.instances", "must be >= 1");
  expect_single(parse("reward:\n  kind: http\n  url: http://x/\n  timeout_s: 10\n"),
                "reward.timeout_s", "timeouts.score_s");
}

TEST(ConfigLoader, RewardPluginKeysWithoutEffect) {
  expect_single(parse("reward:\n  retries: 3\n"), "reward.retries", "no effect");
  expect_single(parse("reward:\n  kind: math\n  timeout_s: 3\n"), "reward.timeout_s",
                "no effect");
  expect_single(parse("reward:\n  kind: http\n  url: http://x/\n  instances: 2\n"),
                "reward.instances", "no effect");
}

TEST(ConfigLoader, DynamicSampling) {
  auto ok = parse("run:\n  dynamic_sampling: true\n  max_filtered_per_step: 40\n");
  ASSERT_TRUE(ok.issues.empty()) << all_issues(ok);
  EXPECT_TRUE(ok.config.run.dynamic_sampling);
  EXPECT_EQ(ok.config.run.max_filtered_per_step, 40);
  expect_single(parse("run:\n  max_filtered_per_step: 40\n"), "run.max_filtered_per_step",
                "has no effect with run.dynamic_sampling false", 2, 26);
  expect_single(parse("run:\n  dynamic_sampling: true\n  max_filtered_per_step: -1\n"),
                "run.max_filtered_per_step", "must be >= 0");
  expect_single(parse("run:\n  dynamic_sampling: true\nlearner:\n  baseline: batch\n"
                      "  std_scaling: batch\n"),
                "run.dynamic_sampling", "use one or the other");
}

TEST(ConfigLoader, DigitCredit) {
  auto ok = parse("reward:\n  digit_credit: 0.3\n");
  ASSERT_TRUE(ok.issues.empty()) << all_issues(ok);
  EXPECT_DOUBLE_EQ(ok.config.reward.weights.digit_credit, 0.3);
  expect_single(parse("reward:\n  digit_credit: 0.9\n"), "reward.digit_credit",
                "must be in [0, reward.accuracy_weight)");
}

// The objective variants of docs/grpo.md (§1, §1.1, §2.1, §2.2, §5.1): each
// parses into its setting and is refused where it would do nothing or
// cannot work.
TEST(ConfigLoader, ObjectiveVariantsParseAndDefaultToOff) {
  const auto defaults = parse("run: {}\n").config;
  EXPECT_EQ(defaults.learner.grpo.ratio_level, importance_level::token);
  EXPECT_EQ(defaults.learner.grpo.behav_weight_mode, weight_bound_mode::truncate);
  EXPECT_EQ(defaults.learner.grpo.behav_weight_lower, 0.0);
  EXPECT_EQ(defaults.learner.grpo.dual_clip, 0.0);
  EXPECT_EQ(defaults.reward.overlong_buffer, 0);
  auto ok = parse("learner:\n  ratio_level: sequence\n  loss_aggregation: sequence_mean\n"
                  "  eps_low: 0.0003\n  eps_high: 0.0004\n  behav_weight_mode: mask\n"
                  "  behav_weight_lower: 0.5\n  behav_weight_cap: 2\n  dual_clip: 3\n"
                  "  std_scaling: batch_residual\n"
                  "reward:\n  overlong_buffer: 4\n  overlong_penalty: 0.5\n");
  ASSERT_TRUE(ok.issues.empty()) << all_issues(ok);
  const auto& g = ok.config.learner.grpo;
  EXPECT_EQ(g.ratio_level, importance_level::sequence);
  EXPECT_EQ(g.behav_weight_mode, weight_bound_mode::mask);
  EXPECT_DOUBLE_EQ(g.behav_weight_lower, 0.5);
  EXPECT_DOUBLE_EQ(g.dual_clip, 3.0);
  EXPECT_EQ(g.scaling, std_scaling::batch_residual);
  EXPECT_EQ(ok.config.reward.overlong_buffer, 4);
  EXPECT_DOUBLE_EQ(ok.config.reward.overlong_penalty, 0.5);
  EXPECT_EQ(make_learner_settings(ok.config).grpo.ratio_level, importance_level::sequence);
  auto batch = parse("learner:\n  baseline: batch\n  std_scaling: batch_residual\n");
  EXPECT_TRUE(batch.issues.empty()) << all_issues(batch);
  auto fixed = parse("learner:\n  baseline: fixed\n  baseline_value: 0.9\n  std_scaling: none\n");
  ASSERT_TRUE(fixed.issues.empty()) << all_issues(fixed);
  EXPECT_EQ(fixed.config.learner.grpo.baseline, advantage_baseline::fixed);
  EXPECT_DOUBLE_EQ(make_learner_settings(fixed.config).grpo.baseline_value, 0.9);
  expect_single(parse("learner:\n  baseline: fixed\n  baseline_value: 0.9\n"),
                "learner.baseline", "baseline: fixed needs std_scaling: batch");
  expect_single(parse("learner:\n  baseline_value: 0.9\n"), "learner.baseline_value",
                "has no effect with learner.baseline: group", 2, 19);
  expect_single(parse("run:\n  dynamic_sampling: true\nlearner:\n  baseline: fixed\n"
                      "  std_scaling: none\n"),
                "run.dynamic_sampling", "with learner.baseline fixed such a group");
}

TEST(ConfigLoader, SteeredEntropyBonus) {
  auto ok = parse("learner:\n  entropy_coef: 0.001\n  entropy_target: 0.3\n"
                  "  entropy_coef_step: 0.002\n  entropy_coef_max: 0.05\n");
  ASSERT_TRUE(ok.issues.empty()) << all_issues(ok);
  const auto g = make_learner_settings(ok.config).grpo;
  EXPECT_DOUBLE_EQ(g.entropy_target, 0.3);
  EXPECT_DOUBLE_EQ(g.entropy_coef_step, 0.002);
  EXPECT_DOUBLE_EQ(g.entropy_coef_max, 0.05);
  expect_single(parse("learner:\n  entropy_coef_step: 0.01\n"), "learner.entropy_coef_step",
                "has no effect with learner.entropy_target: 0", 2, 22);
  expect_single(parse("learner:\n  entropy_target: 0.3\n  entropy_coef_step: 0\n"),
                "learner.entropy_coef_step", "must be > 0");
  expect_single(parse("learner:\n  entropy_target: -1\n"), "learner.entropy_target",
                "must be >= 0");
  expect_single(parse("learner:\n  entropy_coef: 0.2\n  entropy_target: 0.3\n"),
                "learner.entropy_coef_max", "must be >= learner.entropy_coef");
}

TEST(ConfigLoader, ObjectiveVariantsAreRefusedWhereTheyCannotWork) {
  expect_single(parse("learner:\n  ratio_level: sequence\n"), "learner.ratio_level",
                "set learner.loss_aggregation: sequence_mean (got token_mean)", 2, 16);
  expect_single(parse("learner:\n  ratio_level: segment\n"), "learner.ratio_level",
                "expected one of token, sequence");
  expect_single(parse("learner:\n  dual_clip: 0.5\n"), "learner.dual_clip",
                "must be 0 (off) or > 1");
  expect_single(parse("learner:\n  behav_weight_lower: 0.5\n"), "learner.behav_weight_lower",
                "has no effect with learner.behav_weight_mode: truncate");
  expect_single(parse("learner:\n  behav_weight_mode: mask\n  behav_weight_lower: 6\n"),
                "learner.behav_weight_lower", "must be in [0, learner.behav_weight_cap = 5)");
  expect_single(parse("learner:\n  decoupled: false\n  behav_weight_mode: mask\n"),
                "learner.behav_weight_mode", "has no effect with learner.decoupled: false");
  expect_single(parse("reward:\n  overlong_buffer: 40\n"), "reward.overlong_buffer",
                "must be in [0, sampler.max_new_tokens = ");
  expect_single(parse("reward:\n  overlong_penalty: 0.5\n"), "reward.overlong_penalty",
                "has no effect with reward.overlong_buffer: 0");
  expect_single(parse("reward:\n  overlong_buffer: 2\n  overlong_penalty: 0\n"),
                "reward.overlong_penalty", "must be > 0");
}

TEST(ConfigLoader, EvalSectionBindsAndChecksItsRanges) {
  auto r = parse("eval: {every: 5, size: 50, k: 8, samples_every: 10, samples_count: 3}\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.eval.every, 5);
  EXPECT_EQ(r.config.eval.size, 50);
  EXPECT_EQ(r.config.eval.k, 8);
  EXPECT_EQ(r.config.eval.samples_every, 10);
  EXPECT_EQ(r.config.eval.samples_count, 3);
  EXPECT_EQ(parse("").config.eval.every, 0) << "off by default";
  expect_single(parse("eval: {every: -1}\n"), "eval.every", "must be >= 0", 1, 15);
  expect_single(parse("eval: {every: 2, k: 0}\n"), "eval.k", "must be >= 1");
  expect_single(parse("eval: {every: 2, size: 0}\n"), "eval.size", "must be >= 1");
  expect_single(parse("eval: {samples_count: 2}\n"), "eval.samples_count", "no effect");
  expect_single(parse("eval: {evry: 2}\n"), "eval.evry", "every");
}

TEST_F(ConfigFiles, EvalPathIsAJsonlKeyResolvedAgainstTheConfig) {
  write("data/train.jsonl", "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n");
  write("data/held.jsonl", "{\"prompt\": \"2+2=\", \"answer\": \"4\"}\n");
  auto ok = load_run_config(
    write("run.yaml", "task: {kind: jsonl, path: data/train.jsonl, eval_path: data/held.jsonl}\n"));
  ASSERT_TRUE(ok.ok()) << all_issues(ok);
  EXPECT_EQ(ok.config.task.eval_path, (dir_ / "data/held.jsonl").string());
  auto missing = load_run_config(
    write("bad.yaml", "task: {kind: jsonl, path: data/train.jsonl, eval_path: nope.jsonl}\n"));
  expect_single(missing, "task.eval_path", "file not found");
  expect_single(parse("task: {kind: arithmetic, eval_path: x.jsonl}\n"), "task.eval_path",
                "no effect");
}
