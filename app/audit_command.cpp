// audit_command.cpp: `tandem audit RUN_DIR` — the exactly-once checks of
// runtime/journal_audit.hpp over RUN_DIR/journal.db, as text or one JSON line.
// Exit: 0 every guarantee holds, 1 one is broken (its offending ids listed),
// 2 RUN_DIR is not a run (no such directory, no journal, unreadable journal).
#include <filesystem>
#include <iostream>
#include <system_error>

#include "app/commands.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/journal_audit.hpp"
#include "runtime/run_journal.hpp"

namespace tandem {

int audit_command(const args& a) {
  command_line cl("tandem audit RUN_DIR [--json]",
                  "check a run's journal (RUN_DIR/journal.db): every prompt trained at most "
                  "once, none skipped, none lost, across head restarts. Exit 0 when every "
                  "guarantee holds, 1 when one is broken, 2 when RUN_DIR is not a run");
  cl.positional("RUN_DIR", "the run's output directory (tandem run --output)");
  cl.toggle("--json", "print the report as one line of JSON");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  const auto& dir = cl.positionals()[0];
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    std::cerr << "tandem audit: " << dir << ": no such directory\n";
    return 2;
  }
  auto path = journal_path(dir);
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::cerr << "tandem audit: " << dir << " is not a run: no " << journal_file_name << "\n";
    return 2;
  }
  auto report = audit_journal(path);
  if (!report) {
    std::cerr << "tandem audit: " << describe(report.error()) << "\n";
    return 2;
  }
  std::cout << (cl.on("--json") ? format_audit_json(*report) + "\n" : format_audit_text(*report));
  return report->broken() ? 1 : 0;
}

} // namespace tandem
