// evaluation_test: the evaluator's parts built from run configs
// (wiring/evaluation.hpp): the held-out split of each task kind, prompts
// that must fit the model, what counts as correct, the metrics board that
// annotates step records, and the lines of samples.jsonl.
#include "wiring/evaluation.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/tokenizer.hpp"
#include "tests/runtime/temp_dir.hpp"
#include "topology/config_loader.hpp"
#include "topology/run_loader.hpp"

namespace tandem {
namespace {

const std::string data_dir = TANDEM_TEST_DATA_DIR;

run_config config(const std::string& yaml) {
  auto r = parse_run_config(yaml, data_dir + "/inline.yaml");
  EXPECT_TRUE(r.ok()) << (r.issues.empty() ? "" : r.issues[0].to_string());
  return r.config;
}

TEST(Evaluation, ArithmeticEvaluatesTheWholeTableUpToSize) {
  auto cfg = config("task: {kind: arithmetic, min_operand: 0, max_operand: 4, ops: \"+\"}\n");
  auto all = held_out_problems(cfg, 1000);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 25u);
  auto some = held_out_problems(cfg, 5);
  ASSERT_TRUE(some);
  EXPECT_EQ(some->size(), 5u);
}

TEST(Evaluation, JsonlUsesEvalPathElseTheTailOfItsFile) {
  auto tail = held_out_problems(config("task: {kind: jsonl, path: tiny.jsonl}\n"), 100);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->size(), 1u); // the last tenth of 8 rows, at least one
  auto own = held_out_problems(
    config("task: {kind: jsonl, path: tiny.jsonl, eval_path: tiny.jsonl}\n"), 3);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->size(), 3u);
  EXPECT_EQ((*own)[0].answer, "5");
}

TEST(Evaluation, GeneratedTasksDrawFromAnotherStream) {
  auto cfg = config("task: {kind: multidigit, digits: 3, seed: 4}\n");
  auto held = held_out_problems(cfg, 6);
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 6u);
  EXPECT_EQ(held->back().id, 5u);
}

TEST(Evaluation, PromptsThatDoNotFitTheModelAreRefusedByName) {
  char_tokenizer tok;
  std::vector<problem> ps{{0, "123+456=", "579"}};
  auto ok = encode_items(ps, tok, 32, 8, "run.yaml: eval");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].prompt, *tok.prompt_ids("123+456="));
  auto tight = encode_items(ps, tok, 12, 8, "run.yaml: eval");
  ASSERT_FALSE(tight);
  EXPECT_TRUE(is(tight.error(), errc::invalid_config));
  EXPECT_NE(describe(tight.error()).find("run.yaml: eval: problem \"123+456=\""),
            std::string::npos) << describe(tight.error());
}

TEST(Evaluation, CorrectIsTheAnswerRuleOrTheMathGradersVerdict) {
  auto tok = std::make_shared<char_tokenizer>();
  auto right = *tok->encode("7</answer>");
  auto wrong = *tok->encode("8</answer>");
  auto rules = make_answer_check(config("run: {}\n"), tok);
  EXPECT_TRUE(rules(right, "7"));
  EXPECT_FALSE(rules(wrong, "7"));
  auto math = make_answer_check(config("reward: {kind: math}\n"), tok);
  EXPECT_TRUE(math(*tok->encode("<answer>7</answer>"), "7"));
  EXPECT_FALSE(math(*tok->encode("<answer>8</answer>"), "7"));
}

TEST(Evaluation, GreedyKeepsOnlyTheTopToken) {
  sampling_params p;
  p.temperature = 0.7;
  auto g = greedy_of(p);
  EXPECT_LT(g.top_p, 1e-6);
  EXPECT_EQ(g.temperature, 0.7);
}

TEST(Evaluation, TheBoardAnnotatesTheNextStepRecordOnce) {
  auto board = std::make_shared<eval_board>();
  auto mem = std::make_shared<memory_sink>();
  eval_metrics_sink sink(mem, board);
  json_record step1;
  step1.add("step", int64_t{1});
  ASSERT_FALSE(sink.write(step1));
  eval_figures f;
  f.version = 2, f.greedy_acc = 0.25, f.pass_at_k = 0.5;
  board->post(f);
  board->failed();
  json_record step3;
  step3.add("step", int64_t{3});
  ASSERT_FALSE(sink.write(step3));
  ASSERT_FALSE(sink.write(step3));
  ASSERT_EQ(mem->lines.size(), 3u);
  EXPECT_EQ(mem->lines[0], "{\"step\":1}");
  EXPECT_EQ(mem->lines[1], "{\"step\":3,\"eval_version\":2,\"eval_greedy_acc\":0.25,"
                           "\"eval_pass_at_k\":0.5,\"eval_failures\":1}");
  EXPECT_EQ(mem->lines[2], "{\"step\":3}") << "each result goes into one record";
}

TEST(Evaluation, TheBoardCountsEvalLinesThatCouldNotBeWritten) {
  auto board = std::make_shared<eval_board>();
  auto mem = std::make_shared<memory_sink>();
  eval_metrics_sink sink(mem, board);
  EXPECT_EQ(board->write_failures(), 0u);
  board->write_failed();
  board->write_failed();
  EXPECT_EQ(board->write_failures(), 2u);
  json_record step;
  step.add("step", int64_t{4});
  ASSERT_FALSE(sink.write(step));
  ASSERT_FALSE(sink.write(step));
  ASSERT_EQ(mem->lines.size(), 2u);
  EXPECT_EQ(mem->lines[0], "{\"step\":4,\"eval_write_failures\":2}");
  EXPECT_EQ(mem->lines[1], "{\"step\":4}");
}

TEST(Evaluation, SampleLinesCarryPromptCompletionRewardAndAnswer) {
  auto cfg = config("run: {}\n");
  auto tok = std::make_shared<char_tokenizer>();
  auto score = make_group_scoring(cfg, tok);
  ASSERT_TRUE(score);
  std::vector<eval_item> its{{"3+4=", "7", *tok->prompt_ids("3+4=")}};
  generated_sequence s;
  s.tokens = *tok->encode("7</answer>"); // </answer> is a stop token: the end
  s.finished = true;
  auto lines = sample_records(5, its, {{0, s}}, *tok, *score, make_answer_check(cfg, tok));
  ASSERT_EQ(lines.size(), 1u);
  auto doc = parse_json(lines[0].str(), "line");
  ASSERT_TRUE(doc);
  EXPECT_EQ(*doc->find("step")->as_integer(), 5);
  EXPECT_EQ(*doc->find("version")->as_integer(), 5);
  EXPECT_EQ(*doc->find("prompt")->as_string(), tok->decode(its[0].prompt));
  EXPECT_EQ(*doc->find("answer")->as_string(), "7");
  EXPECT_EQ(*doc->find("correct")->as_integer(), 1);
  EXPECT_DOUBLE_EQ(doc->find("reward")->as_number()->value, 1.0); // 0.9 + 0.1 format
  EXPECT_NE(doc->find("completion")->as_string()->find("7</answer>"), std::string::npos);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Evaluation, AResumedRunCutsItsEvalFilesBackToTheCheckpoint) {
  test::temp_dir tmp;
  std::ofstream(tmp / "run.yaml") << "run: {output_dir: " << tmp / "out" << "}\n"
                                  << "eval: {every: 2, size: 5, samples_every: 2}\n";
  auto run = load_run(tmp / "run.yaml");
  ASSERT_TRUE(run.ok());
  std::filesystem::create_directories(tmp / "out");
  const std::string lines = "{\"step\":0}\n{\"step\":2}\n{\"step\":4}\n{\"step\":";
  for (auto* f : {"eval.jsonl", "samples.jsonl"})
    std::ofstream(tmp / ("out/" + std::string(f))) << lines; // the last one torn
  caf::actor_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  auto resumed = make_evaluation(sys, run.config, run.plan, 2);
  ASSERT_TRUE(resumed) << describe(resumed.error());
  ASSERT_TRUE(*resumed);
  EXPECT_EQ(slurp(tmp / "out/eval.jsonl"), "{\"step\":0}\n{\"step\":2}\n");
  EXPECT_EQ(slurp(tmp / "out/samples.jsonl"), "{\"step\":0}\n{\"step\":2}\n");
  auto fresh = make_evaluation(sys, run.config, run.plan, 0);
  ASSERT_TRUE(fresh && *fresh);
  EXPECT_EQ(slurp(tmp / "out/eval.jsonl"), "") << "a fresh start begins the file anew";
  run.config.eval.every = 0;
  run.config.eval.samples_every = 0;
  auto off = make_evaluation(sys, run.config, run.plan, 0);
  ASSERT_TRUE(off);
  EXPECT_FALSE(*off) << "nothing configured: no evaluator";
}

} // namespace
} // namespace tandem
