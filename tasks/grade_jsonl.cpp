// grade_jsonl.cpp: JSONL lines in, graded JSON lines out; see the header.
//
// Lines are read in 1 MiB chunks through istream::read (which turns a read
// error into badbit), so a line over the bound is skipped to its newline
// without being stored: memory stays at one bounded line plus one chunk.
#include "tasks/grade_jsonl.hpp"

#include <cstring>
#include <istream>
#include <ostream>
#include <vector>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"
#include "tasks/internal/answer_text.hpp"

namespace tandem::math {

namespace {

constexpr size_t chunk_bytes = size_t{1} << 20;

class line_reader {
public:
  enum class status { line, too_long, end };

  line_reader(std::istream& in, size_t max) : in_(in), max_(max), chunk_(chunk_bytes) {}

  /// The next line (without its '\n') in `line`; too_long leaves it empty.
  status next(std::string& line);

private:
  bool fill();

  std::istream& in_;
  size_t max_;
  std::vector<char> chunk_;
  size_t pos_ = 0;
  size_t len_ = 0;
};

bool line_reader::fill() {
  if (!in_)
    return false;
  in_.read(chunk_.data(), static_cast<std::streamsize>(chunk_.size()));
  pos_ = 0;
  len_ = static_cast<size_t>(in_.gcount());
  return len_ > 0;
}

line_reader::status line_reader::next(std::string& line) {
  line.clear();
  bool any = false;
  bool too_long = false;
  while (pos_ < len_ || fill()) {
    any = true;
    const char* begin = chunk_.data() + pos_;
    const auto* newline = static_cast<const char*>(std::memchr(begin, '\n', len_ - pos_));
    const size_t take = newline ? static_cast<size_t>(newline - begin) : len_ - pos_;
    if (!too_long && line.size() + take > max_) {
      too_long = true;
      std::string{}.swap(line); // give the memory back
    }
    if (!too_long)
      line.append(begin, take);
    pos_ += take;
    if (newline) {
      ++pos_;
      break;
    }
  }
  if (!any)
    return status::end;
  return too_long ? status::too_long : status::line;
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

// json_reader's "LINE:COL: what" for a one-line text as "what (column COL)".
std::string json_error_text(const caf::error& err) {
  const auto& ctx = err.context();
  const std::string text = ctx.size() == 1 && ctx.match_element<std::string>(0)
                             ? ctx.get_as<std::string>(0)
                             : describe(err);
  const size_t line_end = text.find(':');
  const size_t col_end = line_end == std::string::npos ? line_end : text.find(": ", line_end);
  if (col_end == std::string::npos)
    return text;
  return text.substr(col_end + 2) + " (column "
         + text.substr(line_end + 1, col_end - line_end - 1) + ")";
}

// A number as written in `line` (json_reader keeps only its value).
std::string number_text(std::string_view line, const json_value& v) {
  constexpr std::string_view number_chars = "+-.eE0123456789";
  const size_t begin = v.column() - 1;
  size_t end = begin;
  while (end < line.size() && number_chars.find(line[end]) != std::string_view::npos)
    ++end;
  return std::string{line.substr(begin, end - begin)};
}

} // namespace

std::string grade_result_json(const grade_result& r) {
  std::string s = "{\"correct\":";
  s += r.correct ? "true" : "false";
  s += ",\"extracted\":";
  s += r.extracted ? json_quote(*r.extracted) : "null";
  s += ",\"format\":";
  s += r.format ? "true" : "false";
  s += ",\"reward\":" + json_number_text(r.reward) + "}";
  return s;
}

std::string grade_line(std::string_view line, const grade_weights& w, grade_result& out) {
  const auto first = answer_text::trim(line);
  if (first.empty() || first.front() != '{')
    return "not a JSON object (a line must start with '{')";
  json_options opts;
  opts.unique_keys = true;
  auto root = parse_json(line, {}, opts);
  if (!root)
    return "bad JSON: " + json_error_text(root.error());
  const json_value* completion = root->find("completion");
  if (!completion)
    return "field 'completion': missing";
  if (!completion->as_string())
    return std::string("field 'completion': must be a string, got ") + kind_of(*completion);
  const json_value* answer = root->find("answer");
  if (!answer)
    return "field 'answer': missing";
  if (!answer->as_string() && !answer->as_number())
    return std::string("field 'answer': must be a string or a number, got ") + kind_of(*answer);
  const std::string reference =
    answer->as_string() ? *answer->as_string() : number_text(line, *answer);
  if (answer_text::trim(reference).empty())
    return "field 'answer': empty";
  out = grade(*completion->as_string(), reference, w);
  return {};
}

grade_file_summary grade_jsonl(std::istream& in, std::string_view source, std::ostream& out,
                               std::ostream& err, const grade_weights& w) {
  grade_file_summary summary;
  line_reader reader{in, max_grade_line_bytes};
  std::string line;
  for (size_t line_no = 1;; ++line_no) {
    const auto st = reader.next(line);
    if (st == line_reader::status::end)
      break;
    if (st == line_reader::status::too_long) {
      err << source << ":" << line_no << ": line longer than " << max_grade_line_bytes
          << " bytes (16 MiB), refused\n";
      ++summary.bad;
      continue;
    }
    if (answer_text::trim(line).empty())
      continue;
    grade_result r;
    if (auto why = grade_line(line, w, r); !why.empty()) {
      err << source << ":" << line_no << ": " << why << "\n";
      ++summary.bad;
      continue;
    }
    out << grade_result_json(r) << '\n';
    ++summary.graded;
  }
  summary.read_failed = in.bad();
  return summary;
}

} // namespace tandem::math
