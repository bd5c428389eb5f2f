// math_grader_test.cpp: the math grader (tasks/math_grader.hpp) against the
// verdict table tests/data/math_grader_cases.jsonl, each normalisation on its
// own, adversarial completions (bounded time, deep nesting, huge numbers,
// bytes that are not UTF-8) and the JSONL grading of `tandem grade`
// (tasks/grade_jsonl.hpp).
#include "tasks/math_grader.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/json_reader.hpp"
#include "tasks/grade_jsonl.hpp"

namespace tandem::math {
namespace {

const std::string cases_path = std::string{TANDEM_TEST_DATA_DIR} + "/math_grader_cases.jsonl";

struct verdict {
  bool correct = false;
  std::optional<std::string> extracted;
  bool format = false;
  double reward = 0;
};

// The fields of an output line or of a case's "expected" object.
verdict read_verdict(const json_value& v) {
  verdict out;
  out.correct = *v.find("correct")->as_bool();
  if (const auto* s = v.find("extracted")->as_string())
    out.extracted = *s;
  out.format = *v.find("format")->as_bool();
  out.reward = v.find("reward")->as_number()->value;
  return out;
}

std::vector<json_value> read_cases() {
  std::ifstream in{cases_path};
  std::vector<json_value> rows;
  std::string line;
  while (std::getline(in, line)) {
    auto row = parse_json(line, cases_path);
    EXPECT_TRUE(row) << describe(row.error());
    if (row)
      rows.push_back(std::move(*row));
  }
  return rows;
}

void expect_verdict(const verdict& got, const verdict& want) {
  EXPECT_EQ(got.correct, want.correct);
  EXPECT_EQ(got.extracted, want.extracted);
  EXPECT_EQ(got.format, want.format);
  EXPECT_DOUBLE_EQ(got.reward, want.reward);
}

// The answer of a case as `tandem grade` reads it (numbers as written).
std::string answer_of(const json_value& row, const std::string& line_text) {
  const json_value* a = row.find("answer");
  if (a->as_string())
    return *a->as_string();
  const size_t begin = a->column() - 1;
  const size_t end = line_text.find_first_of(",}", begin);
  return line_text.substr(begin, end - begin);
}

TEST(MathGraderTable, HoldsAtLeastSixtyCases) {
  EXPECT_GE(read_cases().size(), 60u);
}

TEST(MathGraderTable, EveryCaseGetsItsVerdict) {
  std::ifstream in{cases_path};
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    auto row = parse_json(line);
    ASSERT_TRUE(row);
    SCOPED_TRACE("line " + std::to_string(n) + ": " + *row->find("note")->as_string());
    const auto r = grade(*row->find("completion")->as_string(), answer_of(*row, line));
    expect_verdict({r.correct, r.extracted, r.format, r.reward},
                   read_verdict(*row->find("expected")));
  }
}

TEST(GradeJsonl, PrintsTheTablesVerdictsLineByLine) {
  std::ifstream in{cases_path};
  std::ostringstream out, err;
  const auto summary = grade_jsonl(in, "cases", out, err);
  EXPECT_EQ(summary.bad, 0u) << err.str();
  EXPECT_FALSE(summary.read_failed);
  const auto rows = read_cases();
  ASSERT_EQ(summary.graded, rows.size());
  std::istringstream lines{out.str()};
  std::string line;
  for (size_t n = 0; std::getline(lines, line); ++n) {
    ASSERT_LT(n, rows.size());
    SCOPED_TRACE(*rows[n].find("note")->as_string());
    auto got = parse_json(line);
    ASSERT_TRUE(got) << line;
    EXPECT_EQ(got->as_object()->size(), 4u) << line;
    expect_verdict(read_verdict(*got), read_verdict(*rows[n].find("expected")));
  }
}

// --- extraction ------------------------------------------------------------------

TEST(FindFinalAnswer, TakesTheLastBoxedAndSaysWhereItCameFrom) {
  auto a = find_final_answer("\\boxed{1} then \\boxed{\\frac{2}{3}} <answer>7</answer>");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text, "\\frac{2}{3}");
  EXPECT_EQ(a->format, answer_format::boxed);
  auto t = find_final_answer("<answer> 7 </answer>");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->text, "7");
  EXPECT_EQ(t->format, answer_format::answer_tags);
  EXPECT_STREQ(to_string(t->format), "answer_tags");
}

TEST(FindFinalAnswer, AMalformedLastBoxedFallsBackToTagsOnly) {
  EXPECT_EQ(extract_final_answer("\\boxed{3} \\boxed{4"), std::nullopt);
  EXPECT_EQ(extract_final_answer("\\boxed{3} \\boxed{4 <answer>5</answer>"), "5");
  EXPECT_EQ(extract_final_answer("}}}} \\boxed{1}}}}"), "1");
  EXPECT_EQ(extract_final_answer("\\boxed"), std::nullopt);
  EXPECT_EQ(extract_final_answer("\\boxed{   }"), std::nullopt);
}

TEST(FindFinalAnswer, OtherCommandsAndEscapesAreNotBoxes) {
  EXPECT_EQ(extract_final_answer("\\boxedx{3}"), std::nullopt);
  EXPECT_EQ(extract_final_answer("\\boxed{\\}}"), "\\}");
  EXPECT_EQ(extract_final_answer("\\boxed{a\\\\}"), "a\\\\");
  EXPECT_EQ(extract_final_answer("\\boxed  12 cm"), "12");
  EXPECT_EQ(extract_final_answer("\\boxed5"), std::nullopt);
}

TEST(FindFinalAnswer, TagsUseTheLastCompletePair) {
  EXPECT_EQ(extract_final_answer("<answer><answer>5</answer>"), "5");
  EXPECT_EQ(extract_final_answer("<answer>5</answer><answer>6"), "5");
  EXPECT_EQ(extract_final_answer("</answer><answer>"), std::nullopt);
  EXPECT_EQ(extract_final_answer("<ANSWER>5</ANSWER>"), std::nullopt);
}

// --- numbers ---------------------------------------------------------------------

std::string number(std::string_view text) {
  auto r = parse_number(text);
  return r ? r->to_string() : "none";
}

TEST(ParseNumber, ReadsEachNormalisation) {
  EXPECT_EQ(number("1,234"), "1234");
  EXPECT_EQ(number("1\\,234"), "1234");
  EXPECT_EQ(number("1{,}234{,}567"), "1234567");
  EXPECT_EQ(number("\\frac{6}{8}"), "3/4");
  EXPECT_EQ(number("\\dfrac{6}{8}"), "3/4");
  EXPECT_EQ(number("\\tfrac{6}{8}"), "3/4");
  EXPECT_EQ(number("\\frac 1 2"), "1/2");
  EXPECT_EQ(number("6 / 8"), "3/4");
  EXPECT_EQ(number("0.50"), "1/2");
  EXPECT_EQ(number("3.0"), "3");
  EXPECT_EQ(number("50\\%"), "1/2");
  EXPECT_EQ(number("50 %"), "1/2");
  EXPECT_EQ(number("50 percent"), "1/2");
  EXPECT_EQ(number("$-\\$5$"), "-5");
  EXPECT_EQ(number("-$5"), "-5");
  EXPECT_EQ(number("\\text{5}"), "5");
  EXPECT_EQ(number("5\\text{ cm}^2"), "5");
  EXPECT_EQ(number("5 \\mathrm{m}^{2}"), "5");
  EXPECT_EQ(number("7 km/h."), "7");
  EXPECT_EQ(number("- 4"), "-4");
  EXPECT_EQ(number("+4"), "4");
  EXPECT_EQ(number("\\left(4\\right)"), "none"); // parentheses stay
  EXPECT_EQ(number("\\left.4\\right."), "4");
  EXPECT_EQ(number("3\\frac{1}{4}"), "13/4");
  EXPECT_EQ(number("-3\\frac{1}{4}"), "-13/4");
  EXPECT_EQ(number("1.5e3"), "1500");
  EXPECT_EQ(number("2.5E-1"), "1/4");
  EXPECT_EQ(number("1.5 \\times 10^{-2}"), "3/200");
  EXPECT_EQ(number("2\xC3\x97" "10^3"), "2000"); // U+00D7
  EXPECT_EQ(number("\xE2\x88\x92" "2"), "-2");    // U+2212
  EXPECT_EQ(number("45\xC2\xB0"), "45");          // U+00B0
  EXPECT_EQ(number("45^{\\circ}"), "45");
  EXPECT_EQ(number("1\xC2\xA0" "kg"), "1");       // U+00A0 before a unit
  EXPECT_EQ(number("y = -2"), "-2");
  EXPECT_EQ(number("\\(3\\)"), "3");
  EXPECT_EQ(number("\\[3\\]"), "3");
  EXPECT_EQ(number("\\displaystyle\\frac{1}{3}"), "1/3");
}

TEST(ParseNumber, RefusesWhatIsNotOneNumber) {
  for (const char* text : {"", "-", ".", "$", "1e", "--5", "1.2.3", "1,23", "1234,567", "12,3456",
                           "2 1/2", "1/0", "\\frac{1}{0}", "5 x", "2\\pi", "5 pi", "5cm", "x",
                           "3, 4", "(3)", "1/2/3", "\\frac{1}", "\\frac{a}{2}", "10^3", "5 %%",
                           "5 \\text{cm2}", "5 million", "2 dozen eggs",
                           "5% percent", "x = y = 2", "abc = 2", "2^{x}", "\\sqrt{4}"})
    EXPECT_EQ(number(text), "none") << text;
}

TEST(ParseNumber, ComparesHugeNumbersExactlyOrRefusesThem) {
  const std::string ten_500 = "1" + std::string(500, '0');
  EXPECT_TRUE(answers_equal(ten_500, "1e500"));
  EXPECT_TRUE(answers_equal(ten_500 + "/" + ten_500, "1"));
  EXPECT_FALSE(answers_equal(ten_500 + "1", ten_500 + "2"));
  EXPECT_TRUE(answers_equal("0." + std::string(9000, '0') + "1", "1e-9001"));
  const std::string at_cap(max_number_digits, '7');
  EXPECT_TRUE(parse_number(at_cap));
  EXPECT_FALSE(parse_number(at_cap + "7"));
  EXPECT_FALSE(parse_number("1e" + std::to_string(max_number_digits)));
  EXPECT_FALSE(parse_number("1e99999999999999999999999"));
  EXPECT_FALSE(parse_number("1e-99999999999999999999999"));
  // Over the cap: compared as text, still exactly.
  EXPECT_TRUE(answers_equal(at_cap + "7", at_cap + "7"));
  EXPECT_FALSE(answers_equal(at_cap + "7", at_cap + "8"));
}

TEST(Rational, ComparesByCrossMultiplication) {
  EXPECT_EQ(rational::integer(INT64_MIN).to_string(), "-9223372036854775808");
  EXPECT_EQ(rational::integer(0), *parse_number("-0.000"));
  EXPECT_FALSE(rational::integer(0).negative());
  EXPECT_EQ(*parse_number("2/4"), *parse_number("0.5"));
  EXPECT_NE(*parse_number("-1/2"), *parse_number("1/2"));
  EXPECT_EQ(parse_number("-1/2")->divided_by(2).to_string(), "-1/4");
  EXPECT_FALSE(rational::fraction(false, internal::big_natural{1}, internal::big_natural{}));
  EXPECT_EQ(parse_number("123456789012345678901234567890/10")->to_string(),
            "123456789012345678901234567890/10"); // beyond 64 bits: as stored
}

// --- comparison ------------------------------------------------------------------

TEST(AnswersEqual, PercentAcceptsBothReadingsOnlyWhenOneSideHasIt) {
  EXPECT_TRUE(answers_equal("50%", "50"));
  EXPECT_TRUE(answers_equal("50", "50\\%"));
  EXPECT_TRUE(answers_equal("50%", "0.5"));
  EXPECT_TRUE(answers_equal("1/2", "50%"));
  EXPECT_FALSE(answers_equal("50", "0.5"));
  EXPECT_TRUE(answers_equal("50%", "50.0\\%"));
  EXPECT_FALSE(answers_equal("50%", "0.5%"));
}

TEST(AnswersEqual, TextFallsBackToTheNormalisedForm) {
  EXPECT_EQ(normalize_answer("\\text{(A)}"), "a");
  EXPECT_EQ(normalize_answer("B)"), "b");
  EXPECT_EQ(normalize_answer("C."), "c");
  EXPECT_EQ(normalize_answer("$x + \\text{ and } y$"), "x+and y");
  EXPECT_EQ(normalize_answer("New   York"), "new york");
  EXPECT_EQ(normalize_answer("\\left[ 1, 2 \\right)"), "[1,2)");
  EXPECT_TRUE(answers_equal("\\text{New York}", "new york"));
  EXPECT_FALSE(answers_equal("NewYork", "New York"));
  EXPECT_FALSE(answers_equal("", ""));
  EXPECT_FALSE(answers_equal("x", "y"));
  EXPECT_TRUE(answers_equal("\\sqrt{3}", "$\\sqrt{3}$"));
}

TEST(Grade, WeighsAccuracyAndFormat) {
  const grade_weights w{2.0, 0.5};
  EXPECT_DOUBLE_EQ(grade("\\boxed{3}", "3", w).reward, 2.5);
  EXPECT_DOUBLE_EQ(grade("\\boxed{4}", "3", w).reward, 0.5);
  EXPECT_DOUBLE_EQ(grade("3", "3", w).reward, 0.0);
  const auto r = grade("<answer>3</answer>", "3");
  EXPECT_TRUE(r.correct);
  EXPECT_EQ(r.source, answer_format::answer_tags);
  EXPECT_DOUBLE_EQ(r.reward, reward_weights{}.accuracy + reward_weights{}.format);
}

// --- adversarial -----------------------------------------------------------------

constexpr size_t ten_mb = size_t{10} << 20;
// Linear work on 10 MB takes ~0.2 s at worst on a loaded 2-core machine; a
// quadratic scan would take hours, so the bound tells them apart with room
// to spare. Unoptimised and sanitizer builds get ten times more.
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
constexpr double time_bound_s = 5.0;
#else
constexpr double time_bound_s = 0.5;
#endif

// Seconds grade() takes on one completion.
double seconds_to_grade(const std::string& completion, const std::string& answer,
                        grade_result& out) {
  const auto t0 = std::chrono::steady_clock::now();
  out = grade(completion, answer);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string repeat(std::string_view unit, size_t bytes) {
  std::string s;
  s.reserve(bytes + unit.size());
  while (s.size() < bytes)
    s += unit;
  return s;
}

TEST(GradeAdversarial, TenMegabyteCompletionsGradeInBoundedTime) {
  struct shape {
    const char* name;
    std::string completion;
    bool correct;
  };
  const std::vector<shape> shapes = {
    {"prose then a boxed answer", repeat("lorem ipsum 1,234 {x} ", ten_mb) + "\\boxed{42}", true},
    {"boxed openings, none closed", repeat("\\boxed{", ten_mb), false},
    {"one boxed, braces never closed", "\\boxed" + repeat("{", ten_mb), false},
    {"answer tags, never closed", repeat("<answer>", ten_mb), false},
    {"closing tags only", repeat("</answer>", ten_mb), false},
    {"backslashes", repeat("\\", ten_mb), false},
    {"a boxed number of ten million digits", "\\boxed{" + repeat("9", ten_mb) + "}", false},
    {"a boxed text group of ten MB", "\\boxed{\\text{" + repeat("ab ", ten_mb) + "}}", false},
    {"separators forever", "\\boxed{1" + repeat(",000", ten_mb) + "}", false},
    {"unwrappable text groups", "\\boxed{" + repeat("\\text{", ten_mb) + "}", false},
  };
  for (const auto& s : shapes) {
    grade_result r;
    const double t = seconds_to_grade(s.completion, "42", r);
    EXPECT_LT(t, time_bound_s) << s.name;
    EXPECT_EQ(r.correct, s.correct) << s.name;
  }
}

TEST(GradeAdversarial, AHugeAnswerAgainstAHugeReferenceIsBounded) {
  const std::string digits = repeat("9", ten_mb);
  grade_result r;
  EXPECT_LT(seconds_to_grade("\\boxed{" + digits + "}", digits, r), time_bound_s);
  EXPECT_TRUE(r.correct); // compared as text beyond max_number_digits
  const std::string capped(max_number_digits, '9');
  const std::string ratio = capped + "/" + capped;
  EXPECT_LT(seconds_to_grade("\\boxed{" + ratio + "}", "\\frac{" + capped + "}{" + capped + "}", r),
            time_bound_s);
  EXPECT_TRUE(r.correct); // the largest exact products
}

TEST(GradeAdversarial, DeepNestingNeverRecurses) {
  constexpr size_t depth = 100000;
  const std::string nested = std::string(depth, '{') + "7" + std::string(depth, '}');
  const auto found = extract_final_answer("\\boxed{" + nested + "}");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), nested.size());
  grade_result r;
  EXPECT_LT(seconds_to_grade("\\boxed{" + nested + "}", "7", r), time_bound_s);
  EXPECT_FALSE(r.correct); // 16 cleaning rounds unwrap 16 braces, not 100,000
  EXPECT_TRUE(r.format);
  std::string texts;
  for (size_t i = 0; i < depth; ++i)
    texts += "\\text{";
  texts += "x" + std::string(depth, '}');
  EXPECT_LT(seconds_to_grade("\\boxed{" + texts + "}", "x", r), time_bound_s);
  EXPECT_TRUE(r.correct);
  EXPECT_FALSE(answers_equal(std::string(depth, '{'), std::string(depth, '}')));
}

TEST(GradeAdversarial, BytesThatAreNotUtf8PassThrough) {
  auto r = grade("\xFF\xFE garbage \xC3 \\boxed{5} \xE2\x88", "5");
  EXPECT_TRUE(r.correct);
  r = grade("\\boxed{\xFF\x80}", "\xFF\x80");
  EXPECT_TRUE(r.correct);
  EXPECT_EQ(r.extracted, "\xFF\x80");
  r = grade("\\boxed{5\xE2}", "5");
  EXPECT_FALSE(r.correct);
  EXPECT_TRUE(r.format);
  EXPECT_FALSE(answers_equal("\xE2\x88", "-"));
}

// --- JSONL lines -----------------------------------------------------------------

struct graded_text {
  grade_file_summary summary;
  std::string out, err;
};

graded_text grade_text(const std::string& text) {
  std::istringstream in{text};
  std::ostringstream out, err;
  graded_text g;
  g.summary = grade_jsonl(in, "f.jsonl", out, err);
  g.out = out.str();
  g.err = err.str();
  return g;
}

TEST(GradeJsonl, BadLinesAreNamedAndTheGoodOnesStillGraded) {
  const auto g = grade_text("{\"completion\": \"\\\\boxed{1}\", \"answer\": \"1\"}\n"
                            "\n"
                            "{\"answer\": \"1\"}\n"
                            "{\"completion\": 5, \"answer\": \"1\"}\n"
                            "{\"completion\": \"x\"}\n"
                            "{\"completion\": \"x\", \"answer\": [1]}\n"
                            "{\"completion\": \"x\", \"answer\": \" \"}\n"
                            "[1]\n"
                            "{\"completion\": \"x\", \"answer\": 1,}\n"
                            "{\"completion\": \"x\", \"completion\": \"y\", \"answer\": 1}\n"
                            "{\"completion\": \"<answer>2</answer>\", \"answer\": 2}");
  EXPECT_EQ(g.summary.graded, 2u);
  EXPECT_EQ(g.summary.bad, 8u);
  EXPECT_EQ(g.out,
            "{\"correct\":true,\"extracted\":\"1\",\"format\":true,\"reward\":1.0}\n"
            "{\"correct\":true,\"extracted\":\"2\",\"format\":true,\"reward\":1.0}\n");
  for (const char* want : {"f.jsonl:3: field 'completion': missing",
                           "f.jsonl:4: field 'completion': must be a string, got a number",
                           "f.jsonl:5: field 'answer': missing",
                           "f.jsonl:6: field 'answer': must be a string or a number, got an array",
                           "f.jsonl:7: field 'answer': empty",
                           "f.jsonl:8: not a JSON object",
                           "f.jsonl:9: bad JSON:", "f.jsonl:10: bad JSON: duplicate key"})
    EXPECT_NE(g.err.find(want), std::string::npos) << want << "\n" << g.err;
}

TEST(GradeJsonl, NumberAnswersAreKeptAsWrittenAndNullIsPrinted) {
  const auto g = grade_text("{\"completion\": \"\\\\boxed{0.5}\", \"answer\": 0.50}\n"
                            "{\"completion\": \"nothing\", \"answer\": -3}\r\n");
  EXPECT_EQ(g.summary.bad, 0u) << g.err;
  EXPECT_EQ(g.out,
            "{\"correct\":true,\"extracted\":\"0.5\",\"format\":true,\"reward\":1.0}\n"
            "{\"correct\":false,\"extracted\":null,\"format\":false,\"reward\":0.0}\n");
}

TEST(GradeJsonl, ALineOverSixteenMegabytesIsRefusedAndReadingGoesOn) {
  std::string text = "{\"completion\": \"";
  text.append(max_grade_line_bytes, 'a');
  text += "\", \"answer\": \"1\"}\n{\"completion\": \"\\\\boxed{1}\", \"answer\": \"1\"}\n";
  const auto g = grade_text(text);
  EXPECT_EQ(g.summary.bad, 1u);
  EXPECT_EQ(g.summary.graded, 1u);
  EXPECT_NE(g.err.find("f.jsonl:1: line longer than 16777216 bytes (16 MiB), refused"),
            std::string::npos)
    << g.err;
  // Exactly at the bound is read.
  std::string at = "{\"completion\": \"\", \"answer\": \"1\"}";
  at.insert(16, max_grade_line_bytes - at.size(), 'b');
  ASSERT_EQ(at.size(), max_grade_line_bytes);
  EXPECT_EQ(grade_text(at).summary.graded, 1u);
}

} // namespace
} // namespace tandem::math
