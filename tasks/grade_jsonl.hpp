// grade_jsonl.hpp: the work of `tandem grade FILE.jsonl`: JSONL lines of
// {"completion": ..., "answer": ...} graded by math::grade, one JSON line out
// per line in, so users can check the grader against their own data.
//
// Input: each non-blank line is one JSON object (runtime/json_reader.hpp,
// its own keys unique) with "completion" a string and "answer" a non-empty
// string or a JSON number (kept as written: "0.50" stays "0.50"); other
// fields are ignored. Blank lines are skipped. A line longer than
// max_grade_line_bytes is refused without being held in memory.
// Output: for every good line, in input order,
//   {"correct":true,"extracted":"42","format":true,"reward":1.0}
// ("extracted" is null when no final answer was found). A bad line writes
// nothing to `out` and one "SOURCE:LINE: why" line to `err`, naming the field;
// reading goes on, so every bad line is reported in one pass and the good
// lines are still graded. Callers exit non-zero when summary.bad > 0.
//
// Thread safety: pure functions over the streams they are given.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>

#include "tasks/math_grader.hpp"

namespace tandem::math {

/// The longest line read (bytes, newline excluded): 16 MiB.
inline constexpr size_t max_grade_line_bytes = size_t{16} << 20;

struct grade_file_summary {
  size_t graded = 0;        // lines graded, one output line each
  size_t bad = 0;           // lines refused, one error line each
  bool read_failed = false; // the stream failed before its end
};

/// One output line, without the newline.
std::string grade_result_json(const grade_result& r);

/// Grades one non-blank line into `out`; returns "" or why the line is
/// refused ("field 'answer': missing", "bad JSON: ... (column 7)").
std::string grade_line(std::string_view line, const grade_weights& w, grade_result& out);

/// Grades every line of `in` (see the top); `source` names it in errors.
grade_file_summary grade_jsonl(std::istream& in, std::string_view source, std::ostream& out,
                               std::ostream& err, const grade_weights& w = {});

} // namespace tandem::math
