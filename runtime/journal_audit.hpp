// journal_audit.hpp: the audit of a run journal (runtime/run_journal.hpp) —
// the check behind `tandem audit RUN_DIR` that every prompt of the task's
// stream was trained at most once, none was skipped and none was lost, over
// all head incarnations.
//
// Definitions (a "problem" is a prompt's index in the task's stream; a
// consumption is live unless its step was voided by a head restart):
//   duplicated problems  trained by more than one live consumption
//   duplicated groups    a group id with more than one live consumption
//   reused group ids     a group id issued more than once
//   unmatched groups     a consumed, dropped or outstanding group whose
//                        (group id, problem id) was never issued
//   skipped prompts      ids in [0, highest issued] that were never issued
//   missing / repeated steps  live steps must be exactly 1..last step
//   lost prompts         issued, but no issue was trained by a live step,
//                        dropped, or listed outstanding when the run finished.
// Lost is judged only once the last incarnation has finished. Before that a
// prompt that is neither trained nor dropped may still be: its group may be
// in flight, and after a restart the new head issues it again, as fast as
// its bounded work buffer admits; nothing in the journal bounds how long
// that takes, so no earlier rule could tell "late" from "lost" soundly. An
// unfinished run reports those prompts as unsettled, which breaks nothing.
// Outstanding groups count only from the finish of the last incarnation
// (those of an earlier finish had to be issued again by the later head).
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/run_journal.hpp"

namespace tandem {

/// How many offending ids a report lists per figure.
constexpr size_t audit_sample_size = 10;

/// How many ids break a rule, and the smallest of them.
struct id_sample {
  uint64_t count = 0;
  std::vector<uint64_t> first; // ascending, at most audit_sample_size
};

struct audit_report {
  std::string path;
  int64_t schema_version = 0;
  int64_t incarnations = 0;
  int64_t last_step = 0; // highest live step
  bool finished = false; // the last incarnation recorded its finish
  bool ok = false;       // ... and said the run succeeded
  uint64_t groups_issued = 0;
  uint64_t groups_consumed = 0;    // live
  uint64_t groups_voided = 0;      // consumed by steps lost to head restarts
  uint64_t steps_lost = 0;         // voided steps
  uint64_t groups_dropped = 0;
  uint64_t groups_outstanding = 0; // at the finish of the last incarnation
  uint64_t problems_issued = 0;    // distinct problem ids
  uint64_t regenerated = 0;        // issues of a problem beyond its first
  uint64_t rolled_back = 0;         // issued past the final cursor by a killed head
  uint64_t unsettled = 0;          // problems neither trained, dropped nor outstanding
  // The guarantees: each must be empty.
  id_sample duplicated_problems;
  id_sample duplicated_groups;
  id_sample reused_group_ids;
  id_sample unmatched_groups;
  id_sample skipped_problems;
  id_sample lost_problems; // empty until the run finished
  id_sample missing_steps;
  id_sample repeated_steps;

  /// True when any guarantee is broken.
  bool broken() const;
};

/// The audit of records already read (a pure function).
audit_report audit_records(const journal_records& records);

/// Reads the journal at PATH read-only and audits it.
caf::expected<audit_report> audit_journal(const std::string& path);

/// One figure per line, for people; offending ids listed.
std::string format_audit_text(const audit_report& r);

/// The report as one line of JSON (no trailing newline).
std::string format_audit_json(const audit_report& r);

} // namespace tandem
