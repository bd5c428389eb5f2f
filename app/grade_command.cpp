// grade_command.cpp: `tandem grade FILE.jsonl` — the math grader
// (tasks/math_grader.hpp) over lines of {"completion": ..., "answer": ...},
// one JSON line out per good line in (tasks/grade_jsonl.hpp). "-" reads stdin.
// Exit: 0 every line graded, 2 a line was refused (each one named on stderr
// as FILE:LINE with its field; the good lines are still printed) or the file
// cannot be opened, 1 the file failed while being read.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

#include "app/commands.hpp"
#include "runtime/cli_flags.hpp"
#include "tasks/grade_jsonl.hpp"

namespace tandem {

int grade_command(const args& a) {
  command_line cl("tandem grade FILE.jsonl [--accuracy-weight X] [--format-weight Y]",
                  "grade completions with the built-in math grader: each line "
                  "{\"completion\": ..., \"answer\": ...} gives one line "
                  "{\"correct\", \"extracted\", \"format\", \"reward\"}. Exit 0 when every line "
                  "was graded, 2 when a line was refused (named on stderr; the others are "
                  "still graded), 1 on a read error");
  cl.positional("FILE.jsonl", "the lines to grade; - reads standard input");
  cl.number("--accuracy-weight", "reward for a correct answer", 0.9, 0, 1e6);
  cl.number("--format-weight", "reward for a well-formed final answer", 0.1, 0, 1e6);
  if (auto code = parse_or_exit(cl, a))
    return *code;
  math::grade_weights w;
  w.accuracy = cl.as_number("--accuracy-weight");
  w.format = cl.as_number("--format-weight");
  const auto& path = cl.positionals()[0];
  std::ifstream file;
  if (path != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::cerr << "tandem grade: " << path << ": is a directory\n";
      return 2;
    }
    file.open(path, std::ios::binary);
    if (!file) {
      std::cerr << "tandem grade: " << path << ": cannot open for reading\n";
      return 2;
    }
  }
  std::istream& in = path == "-" ? std::cin : file;
  const auto summary = math::grade_jsonl(in, path == "-" ? "stdin" : path, std::cout, std::cerr, w);
  std::cout.flush();
  if (summary.read_failed) {
    std::cerr << "tandem grade: " << path << ": read error after " << summary.graded
              << " graded lines\n";
    return 1;
  }
  if (summary.bad > 0) {
    std::cerr << "tandem grade: " << summary.bad << " bad line" << (summary.bad == 1 ? "" : "s")
              << ", " << summary.graded << " graded\n";
    return 2;
  }
  return 0;
}

} // namespace tandem
