// jsonl_dataset.cpp: problems loaded from a JSONL file.
//
// GSM8K rows (jsonl_schema::gsm8k) hold "question" and "answer" strings;
// the problem's answer is gsm8k_final_answer of the solution, which is
// then compared by the math grader (the task's answer_check).
//
// Each non-blank line must hold one JSON object and nothing else but
// whitespace; it is parsed with runtime/json_reader.hpp, so YAML-isms
// (unquoted keys, single quotes, comments) are refused. "prompt" must be a
// string, "answer" a string or a JSON number (kept as it is written), and the
// object's own keys may not repeat (nested values are not inspected).
//
// All lines are checked before failing; the error lists the first
// max_reported_errors of them as "FILE:LINE: ...", separated by "; ". JSON
// syntax errors read "bad JSON: what (column N)".
//
// Serving order: a Fisher-Yates shuffle driven by splitmix64 seeded with
// `seed` (tasks/internal/splitmix64.hpp), redone at the start of every epoch
// on the previous permutation, so the order is a deterministic function of
// (file, seed). Problem ids count served problems: 0, 1, 2, ...
//
// Thread safety: one thread at a time (problem_source).
#include "tasks/jsonl_dataset.hpp"

#include <cctype>
#include <fstream>
#include <numeric>
#include <set>
#include <string_view>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

constexpr size_t max_reported_errors = 20;

bool is_blank(std::string_view s) {
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)))
      return false;
  return true;
}

const char* kind_of(const json_value& v) {
  switch (v.type()) {
    case json_value::kind::null: return "null";
    case json_value::kind::boolean: return "a boolean";
    case json_value::kind::number: return "a number";
    case json_value::kind::string: return "a string";
    case json_value::kind::array: return "an array";
    case json_value::kind::object: return "an object";
  }
  return "?";
}

std::string error_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

// json_reader's "LINE:COL: what" for a one-line text as "what (column COL)".
std::string json_error_text(const caf::error& err) {
  const std::string text = error_text(err);
  const size_t line_end = text.find(':');
  const size_t col_end = line_end == std::string::npos ? line_end : text.find(": ", line_end);
  if (col_end == std::string::npos)
    return text;
  return text.substr(col_end + 2) + " (column "
         + text.substr(line_end + 1, col_end - line_end - 1) + ")";
}

// A number as written in `line` (json_reader validated it and keeps only
// its value; "1e3" or "0.50" should stay as the dataset's author wrote them).
std::string number_text(const std::string& line, const json_value& v) {
  constexpr std::string_view number_chars = "+-.eE0123456789";
  const size_t begin = v.column() - 1;
  size_t end = begin;
  while (end < line.size() && number_chars.find(line[end]) != std::string_view::npos)
    ++end;
  return line.substr(begin, end - begin);
}

// Parses `line` as exactly one JSON object into `out`; returns "" or the
// reason it is bad.
std::string parse_object(const std::string& line, json_value& out) {
  const size_t open = line.find_first_not_of(" \t\r\n\f\v");
  if (line[open] != '{')
    return "not a JSON object (a line must start with '{')";
  size_t consumed = 0;
  auto root = parse_json_prefix(line, consumed);
  if (!root)
    return "bad JSON: " + json_error_text(root.error());
  const size_t rest = line.find_first_not_of(" \t\r\n\f\v", consumed);
  if (rest != std::string::npos)
    return "bad JSON: unexpected text after the object (column "
           + std::to_string(rest + 1) + ")";
  std::set<std::string_view> keys;
  for (const auto& member : *root->as_object())
    if (!keys.insert(member.key).second)
      return "duplicate key '" + member.key + "'";
  out = std::move(*root);
  return {};
}

// A GSM8K row: "question" and "answer" with its "#### N" final answer.
std::string parse_gsm8k(const json_value& root, const text_tokenizer& tok, problem& out) {
  const json_value* question = root.find("question");
  if (!question)
    return "field 'question': missing";
  if (!question->as_string())
    return std::string("field 'question': must be a string, got ") + kind_of(*question);
  const json_value* answer = root.find("answer");
  if (!answer)
    return "field 'answer': missing";
  if (!answer->as_string())
    return std::string("field 'answer': must be a string, got ") + kind_of(*answer);
  if (question->as_string()->empty())
    return "field 'question': empty";
  auto final_answer = gsm8k_final_answer(*answer->as_string());
  if (!final_answer)
    return "field 'answer': no final answer (GSM8K solutions end with \"#### <answer>\")";
  if (auto ids = tok.encode(*question->as_string()); !ids)
    return "field 'question': " + error_text(ids.error());
  out.question = *question->as_string();
  out.answer = std::move(*final_answer);
  return {};
}

// Parses one non-blank line into `out`; returns "" or the reason it is bad.
std::string parse_line(const std::string& line, const text_tokenizer& tok,
                       jsonl_schema schema, problem& out) {
  json_value root;
  if (auto why = parse_object(line, root); !why.empty())
    return why;
  if (schema == jsonl_schema::gsm8k)
    return parse_gsm8k(root, tok, out);
  const json_value* prompt = root.find("prompt");
  if (!prompt)
    return "field 'prompt': missing";
  if (!prompt->as_string())
    return std::string("field 'prompt': must be a string, got ") + kind_of(*prompt);
  const json_value* answer = root.find("answer");
  if (!answer)
    return "field 'answer': missing";
  if (!answer->as_string() && !answer->as_number())
    return std::string("field 'answer': must be a string or number, got ")
           + kind_of(*answer);
  const std::string& question = *prompt->as_string();
  std::string answer_text = answer->as_string() ? *answer->as_string()
                                                : number_text(line, *answer);
  if (question.empty())
    return "field 'prompt': empty";
  if (answer_text.empty())
    return "field 'answer': empty";
  if (auto ids = tok.encode(question); !ids)
    return "field 'prompt': " + error_text(ids.error());
  out.question = question;
  out.answer = std::move(answer_text);
  return {};
}

} // namespace

std::optional<std::string> gsm8k_final_answer(std::string_view solution) {
  constexpr std::string_view mark = "####";
  const size_t at = solution.rfind(mark);
  if (at == std::string_view::npos)
    return std::nullopt;
  std::string out;
  for (char c : solution.substr(at + mark.size()))
    if (c != ',')
      out += c;
  const size_t first = out.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string::npos)
    return std::nullopt;
  const size_t last = out.find_last_not_of(" \t\r\n\f\v");
  return out.substr(first, last - first + 1);
}

std::vector<std::string> check_jsonl_file(const std::string& path, const text_tokenizer& tok,
                                          jsonl_schema schema) {
  std::ifstream in{path};
  if (!in)
    return {path + ": cannot open for reading"};
  std::vector<std::string> problems;
  size_t rows = 0;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (is_blank(line))
      continue;
    problem p;
    if (auto why = parse_line(line, tok, schema, p); !why.empty())
      problems.push_back(path + ":" + std::to_string(line_no) + ": " + why);
    else
      ++rows;
  }
  if (in.bad())
    problems.push_back(path + ": read error");
  else if (problems.empty() && rows == 0)
    problems.push_back(path + ": no rows (empty dataset)");
  return problems;
}

caf::expected<std::unique_ptr<jsonl_dataset>>
jsonl_dataset::load(const std::string& path, const text_tokenizer& tok,
                    uint64_t seed, jsonl_schema schema) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::io_failure, path + ": cannot open for reading");
  std::unique_ptr<jsonl_dataset> ds{new jsonl_dataset};
  ds->path_ = path;
  ds->schema_ = schema;
  ds->rng_ = seed;
  std::vector<std::string> errors;
  size_t error_count = 0;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (is_blank(line))
      continue;
    problem p;
    auto why = parse_line(line, tok, schema, p);
    if (why.empty()) {
      ds->rows_.push_back(std::move(p));
      continue;
    }
    if (++error_count <= max_reported_errors)
      errors.push_back(path + ":" + std::to_string(line_no) + ": " + why);
  }
  if (in.bad())
    return make_error(errc::io_failure, path + ": read error");
  if (error_count > 0) {
    std::string msg;
    for (const auto& e : errors)
      msg += (msg.empty() ? "" : "; ") + e;
    if (error_count > errors.size())
      msg += "; ... and " + std::to_string(error_count - errors.size())
             + " more bad lines (" + std::to_string(error_count) + " in all)";
    return make_error(errc::invalid_config, std::move(msg));
  }
  if (ds->rows_.empty())
    return make_error(errc::invalid_config, path + ": no rows (empty dataset)");
  ds->order_.resize(ds->rows_.size());
  std::iota(ds->order_.begin(), ds->order_.end(), size_t{0});
  ds->reshuffle();
  return ds;
}

void jsonl_dataset::reshuffle() {
  for (size_t i = order_.size(); i > 1; --i) {
    const auto j = static_cast<size_t>(internal::uniform_below(rng_, i));
    std::swap(order_[i - 1], order_[j]);
  }
  pos_ = 0;
}

problem jsonl_dataset::next() {
  if (pos_ == order_.size())
    reshuffle();
  problem p = rows_[order_[pos_++]];
  p.id = count_++;
  return p;
}

std::string jsonl_dataset::describe() const {
  return std::string(schema_ == jsonl_schema::gsm8k ? "gsm8k " : "jsonl ") + path_ + " ("
         + std::to_string(rows_.size()) + " rows)";
}

const problem& jsonl_dataset::longest_prompt() const {
  size_t best = 0;
  for (size_t i = 1; i < rows_.size(); ++i)
    if (rows_[i].question.size() > rows_[best].question.size())
      best = i;
  return rows_[best];
}

size_t jsonl_dataset::size() const {
  return rows_.size();
}

} // namespace tandem
