// gsm8k_dataset_test.cpp: GSM8K-style JSONL rows (task.kind: gsm8k): the
// "#### N" final answer, row errors at FILE:LINE naming the field, and the
// math grader's comparison of what the policy answers.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "runtime/error.hpp"
#include "tasks/framed_reward.hpp"
#include "tasks/jsonl_dataset.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {
namespace {

const std::string fixture = std::string(TANDEM_TEST_DATA_DIR) + "/gsm8k_tiny.jsonl";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct temp_file {
  std::string path;
  explicit temp_file(const std::string& text) {
    path = ::testing::TempDir() + "tandem_gsm8k_"
           + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl";
    std::ofstream{path} << text;
  }
  ~temp_file() { std::remove(path.c_str()); }
};

std::string load_error(const std::string& text) {
  temp_file f{text};
  char_tokenizer tok;
  auto ds = jsonl_dataset::load(f.path, tok, 1, jsonl_schema::gsm8k);
  EXPECT_FALSE(ds) << text;
  if (ds)
    return {};
  EXPECT_TRUE(is(ds.error(), errc::invalid_config)) << describe(ds.error());
  return describe(ds.error());
}

TEST(Gsm8kFinalAnswer, IsTheTextAfterTheLastMarkWithoutCommas) {
  EXPECT_EQ(gsm8k_final_answer("3 + 4 = 7\n#### 7"), "7");
  EXPECT_EQ(gsm8k_final_answer("#### 1,250"), "1250");
  EXPECT_EQ(gsm8k_final_answer("x\n####   -2  \n"), "-2");
  EXPECT_EQ(gsm8k_final_answer("a #### 1 then #### 2"), "2");
  EXPECT_EQ(gsm8k_final_answer("####4.5"), "4.5");
  EXPECT_FALSE(gsm8k_final_answer("no mark 7"));
  EXPECT_FALSE(gsm8k_final_answer("#### "));
  EXPECT_FALSE(gsm8k_final_answer("#### ,"));
  EXPECT_FALSE(gsm8k_final_answer(""));
}

TEST(Gsm8kDataset, LoadsQuestionsAndFinalAnswers) {
  char_tokenizer tok;
  auto ds = jsonl_dataset::load(fixture, tok, 3, jsonl_schema::gsm8k);
  ASSERT_TRUE(ds) << describe(ds.error());
  EXPECT_EQ((*ds)->size(), 4u);
  EXPECT_EQ((*ds)->describe(), "gsm8k " + fixture + " (4 rows)");
  std::map<std::string, std::string> answers;
  for (const auto& row : (*ds)->rows())
    answers[row.question] = row.answer;
  EXPECT_EQ(answers["Tom has 3 apples and buys 4 more. How many apples does he have?"], "7");
  EXPECT_EQ(answers["A box holds 250 pens. How many pens are in 5 boxes?"], "1250");
  EXPECT_EQ(answers["Ann had 10 dollars and spent 12. How much does she owe?"], "-2");
  EXPECT_EQ(answers["Half of 9 is what?"], "4.5");
}

TEST(Gsm8kDataset, PromptAnswerFilesAreNotGsm8kRows) {
  // The plain schema's "prompt" field is not a GSM8K "question".
  char_tokenizer tok;
  auto ds = jsonl_dataset::load(std::string(TANDEM_TEST_DATA_DIR) + "/tiny.jsonl", tok, 1,
                                jsonl_schema::gsm8k);
  ASSERT_FALSE(ds);
  EXPECT_TRUE(contains(describe(ds.error()), "tiny.jsonl:1: field 'question': missing"))
    << describe(ds.error());
}

TEST(Gsm8kDataset, BadRowsAreReportedAtTheirLineAndField) {
  EXPECT_TRUE(contains(load_error("{\"question\": \"a\", \"answer\": \"7\"}\n"),
                       ":1: field 'answer': no final answer"));
  EXPECT_TRUE(contains(load_error("{\"question\": \"a\"}\n"), ":1: field 'answer': missing"));
  EXPECT_TRUE(contains(load_error("{\"question\": \"a\", \"answer\": 7}\n"),
                       ":1: field 'answer': must be a string, got a number"));
  EXPECT_TRUE(contains(load_error("{\"question\": 3, \"answer\": \"#### 3\"}\n"),
                       ":1: field 'question': must be a string"));
  EXPECT_TRUE(contains(load_error("\n{\"question\": \"\", \"answer\": \"#### 3\"}\n"),
                       ":2: field 'question': empty"));
  EXPECT_TRUE(contains(load_error("{\"question\": \"a$b\", \"answer\": \"#### 3\"}\n"),
                       ":1: field 'question': character '$'"));
}

TEST(Gsm8kDataset, AnswersAreComparedByTheMathGrader) {
  task_framing f;
  f.check = answer_check::math;
  const reward_weights w;
  // The answer format: the prompt pre-fills <answer>.
  EXPECT_EQ(score_framed("1250</answer>", "1250", w, f, false).accuracy, 1);
  EXPECT_EQ(score_framed("1,250</answer>", "1250", w, f, false).accuracy, 1);
  EXPECT_EQ(score_framed("4.50</answer>", "4.5", w, f, false).accuracy, 1);
  EXPECT_EQ(score_framed("9/2</answer>", "4.5", w, f, false).accuracy, 1);
  EXPECT_EQ(score_framed("$1250</answer>", "1250", w, f, false).accuracy, 1);
  EXPECT_EQ(score_framed("1251</answer>", "1250", w, f, false).accuracy, 0);
  f.format = task_format::r1;
  auto r = score_framed("<think>5*250</think><answer>1,250</answer>", "1250", w, f, false);
  EXPECT_EQ(r.accuracy, 1);
  EXPECT_EQ(r.format, 1);
}

} // namespace
} // namespace tandem
