// `tandem grade` through the real binary: the verdict table
// tests/data/math_grader_cases.jsonl line by line (from a file and from
// stdin), and the exit codes of bad input.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

const std::string cases_path = std::string{TANDEM_TEST_DATA_DIR} + "/math_grader_cases.jsonl";

struct outcome {
  int code = -1;
  std::string out;
};

// Runs `tandem grade ARGS` with a shell redirection (popen: the binary ends
// on its own; a hang would be ended by the ctest timeout).
outcome grade(const std::string& args) {
  outcome o;
  auto cmd = std::string{TANDEM_BINARY} + " grade " + args;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    o.out.append(buf, n);
  int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// Every output line has exactly the four fields of the case's "expected".
void expect_table(const outcome& o) {
  ASSERT_EQ(o.code, 0) << o.out;
  std::ifstream in{cases_path};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto cases = lines_of(text);
  const auto got = lines_of(o.out);
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    auto row = parse_json(cases[i]);
    auto line = parse_json(got[i]);
    ASSERT_TRUE(row && line) << got[i];
    SCOPED_TRACE(*row->find("note")->as_string());
    const json_value& want = *row->find("expected");
    ASSERT_EQ(line->as_object()->size(), 4u) << got[i];
    EXPECT_EQ(*line->find("correct")->as_bool(), *want.find("correct")->as_bool());
    EXPECT_EQ(*line->find("format")->as_bool(), *want.find("format")->as_bool());
    EXPECT_DOUBLE_EQ(line->find("reward")->as_number()->value,
                     want.find("reward")->as_number()->value);
    const auto* e = line->find("extracted");
    const auto* w = want.find("extracted");
    ASSERT_EQ(e->is_null(), w->is_null()) << got[i];
    if (!w->is_null()) {
      EXPECT_EQ(*e->as_string(), *w->as_string());
    }
  }
}

TEST(GradeCommand, PrintsTheTablesVerdictsForAFile) {
  expect_table(grade(cases_path + " 2>&1"));
}

TEST(GradeCommand, ReadsStandardInputForADash) {
  expect_table(grade("- < " + cases_path + " 2>&1"));
}

TEST(GradeCommand, BadLinesExitTwoNamingFileAndLineAfterPrintingTheGoodOnes) {
  const auto path = fs::temp_directory_path() / ("tandem_grade_" + std::to_string(::getpid()));
  {
    std::ofstream f{path};
    f << "{\"completion\": \"\\\\boxed{1}\", \"answer\": 1}\n{\"completion\": 1, \"answer\": 1}\n";
  }
  const auto o = grade(path.string() + " 2>&1");
  fs::remove(path);
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_NE(o.out.find("{\"correct\":true,\"extracted\":\"1\",\"format\":true,\"reward\":1.0}"),
            std::string::npos)
    << o.out;
  EXPECT_NE(o.out.find(path.string() + ":2: field 'completion': must be a string"),
            std::string::npos)
    << o.out;
}

TEST(GradeCommand, AMissingFileOrBadFlagExitsTwo) {
  EXPECT_EQ(grade("/nonexistent/grade.jsonl 2>&1").code, 2);
  EXPECT_EQ(grade(cases_path + " --format-weight x 2>&1").code, 2);
  EXPECT_EQ(grade("2>&1").code, 2);
  const auto weights = grade("--accuracy-weight 2 --format-weight 0 - 2>&1 <<'EOF'\n"
                             "{\"completion\": \"<answer>3</answer>\", \"answer\": \"3\"}\nEOF");
  EXPECT_EQ(weights.code, 0) << weights.out;
  EXPECT_NE(weights.out.find("\"reward\":2.0"), std::string::npos) << weights.out;
}

} // namespace
