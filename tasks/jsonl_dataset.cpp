// jsonl_dataset.cpp: problems loaded from a JSONL file.
//
// Each non-blank line is parsed with yaml-cpp (a JSON object is a YAML flow
// mapping, and yaml-cpp decodes JSON string escapes, \uXXXX included). Because
// YAML accepts more than JSON, a line is first checked to be one brace-balanced
// object with nothing but whitespace after it, keys and "prompt" must be quoted
// strings, "answer" a quoted string or a JSON number (kept as its text), and
// keys may not repeat.
//
// All lines are checked before failing; the error lists the first
// max_reported_errors of them as "FILE:LINE: ...", separated by "; ".
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
#include <regex>
#include <set>

#include <yaml-cpp/yaml.h>

#include "runtime/error.hpp"
#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

constexpr size_t max_reported_errors = 20;

bool is_blank(const std::string& s) {
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)))
      return false;
  return true;
}

// Where the JSON object starting at `open` ends (one past its '}'), honouring
// strings and escapes; npos if it never closes.
size_t object_end(const std::string& line, size_t open) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = open; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0)
        return i + 1;
    }
  }
  return std::string::npos;
}

bool is_quoted(const YAML::Node& node) {
  return node.IsScalar() && node.Tag() == "!";
}

bool is_json_number(const std::string& s) {
  static const std::regex number{R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)"};
  return std::regex_match(s, number);
}

const char* kind_of(const YAML::Node& node) {
  if (node.IsNull())
    return "null";
  if (node.IsSequence())
    return "an array";
  if (node.IsMap())
    return "an object";
  return "a bare scalar";
}

std::string error_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

// Parses one non-blank line into `out`; returns "" or the reason it is bad.
std::string parse_line(const std::string& line, const text_tokenizer& tok,
                       problem& out) {
  const size_t open = line.find_first_not_of(" \t\r\n\f\v");
  if (line[open] != '{')
    return "not a JSON object (a line must start with '{')";
  const size_t end = object_end(line, open);
  if (end == std::string::npos)
    return "bad JSON: unterminated object";
  if (!is_blank(line.substr(end)))
    return "bad JSON: unexpected text after the object";
  YAML::Node root;
  try {
    root = YAML::Load(line);
  } catch (const YAML::Exception& ex) {
    return std::string("bad JSON: ") + ex.msg;
  }
  if (!root.IsMap())
    return "not a JSON object";
  std::set<std::string> keys;
  for (const auto& kv : root) {
    if (!is_quoted(kv.first))
      return "bad JSON: object keys must be quoted strings";
    if (!keys.insert(kv.first.Scalar()).second)
      return "duplicate key '" + kv.first.Scalar() + "'";
  }
  const YAML::Node& map = root;
  const YAML::Node prompt = map["prompt"];
  if (!prompt.IsDefined())
    return "field 'prompt': missing";
  if (!is_quoted(prompt))
    return std::string("field 'prompt': must be a string, got ") + kind_of(prompt);
  const YAML::Node answer = map["answer"];
  if (!answer.IsDefined())
    return "field 'answer': missing";
  if (!is_quoted(answer) && !(answer.IsScalar() && is_json_number(answer.Scalar())))
    return std::string("field 'answer': must be a string or number, got ")
           + kind_of(answer);
  if (prompt.Scalar().empty())
    return "field 'prompt': empty";
  if (answer.Scalar().empty())
    return "field 'answer': empty";
  if (auto ids = tok.encode(prompt.Scalar()); !ids)
    return "field 'prompt': " + error_text(ids.error());
  out.question = prompt.Scalar();
  out.answer = answer.Scalar();
  return {};
}

} // namespace

caf::expected<std::unique_ptr<jsonl_dataset>>
jsonl_dataset::load(const std::string& path, const text_tokenizer& tok,
                    uint64_t seed) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::io_failure, path + ": cannot open for reading");
  std::unique_ptr<jsonl_dataset> ds{new jsonl_dataset};
  ds->path_ = path;
  ds->rng_ = seed;
  std::vector<std::string> errors;
  size_t error_count = 0;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (is_blank(line))
      continue;
    problem p;
    auto why = parse_line(line, tok, p);
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
  return "jsonl " + path_ + " (" + std::to_string(rows_.size()) + " rows)";
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
