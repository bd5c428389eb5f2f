// run_journal.hpp: the run journal, RUN_DIR/journal.db — the durable record
// of which prompt groups a run issued, trained, dropped and left outstanding,
// across head restarts. It is the evidence that `tandem audit` checks
// (runtime/journal_audit.hpp): every prompt of the task's stream trained at
// most once, none skipped, none lost.
//
// Storage: one SQLite database in WAL mode (readers such as `tandem audit`
// never block the head, and a commit is one append to the write-ahead log).
// Every write is one transaction that is durable when the call returns.
//
// Records and their life:
//   incarnation  one head from its start to its end; begin_incarnation(k)
//                starts one from the checkpoint of step k (0: fresh run).
//   step         step k trained the groups it lists into policy version v.
//                live ──begin_incarnation(k' < k)──▶ voided: the weights of
//                step k died with the head, its groups count as untrained.
//   issued / dropped / outstanding: group events, never voided (an issue
//                happened whatever became of the weights; a drop is a
//                decision of the controller, not training).
// Invariants kept on write: live steps are exactly 1..last (record_step
// refuses any other step); a head resumes only from a step the journal holds
// (a checkpoint of a step the journal lacks would hold training of groups
// nobody could account for); nothing is written after record_finish.
// Group ids are stored as SQLite's signed 64-bit integers (bit-cast, so the
// round trip is exact).
//
// Thread safety: a run_journal is used by one thread (the controller). Other
// processes may read the file at any time (read_journal opens it read-only).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem {

/// The journal's file name inside a run directory.
constexpr const char* journal_file_name = "journal.db";

/// RUN_DIR/journal.db
std::string journal_path(const std::string& run_dir);

/// The schema version this build writes and reads (PRAGMA user_version).
constexpr int64_t journal_schema_version = 1;

struct journal_group {
  uint64_t group_id = 0;   // unique within a run, across head restarts
  uint64_t problem_id = 0; // index of the prompt in the task's deterministic stream
};

/// Where a new incarnation goes on (call after begin_incarnation).
struct journal_resume {
  uint64_t next_group_id = 0;   // 1 + the highest group id journaled (0: none)
  uint64_t next_problem_id = 0; // 1 + the highest problem id journaled (0: none)
  /// Problem ids issued but neither trained by a live step nor dropped,
  /// ascending: the prompts to issue again (with new group ids). Issues made
  /// after the last record_step of a dead head were never journaled; their
  /// problem ids are >= next_problem_id and come again from the stream.
  std::vector<uint64_t> unsettled_problems;
};

class run_journal {
public:
  /// Opens PATH for writing, creating the file and its schema when new.
  /// Fails (naming PATH) when the file is not an SQLite database, is another
  /// application's database, or has a schema newer than this build's.
  static caf::expected<std::unique_ptr<run_journal>> open(const std::string& path);

  ~run_journal();
  run_journal(const run_journal&) = delete;
  run_journal& operator=(const run_journal&) = delete;

  /// A new head incarnation starting from the checkpoint of `resumed_step`
  /// (0 = fresh run, nothing trained). Voids the live steps > resumed_step
  /// (their training was lost) and returns the incarnation number (1, 2, ...).
  /// invalid_argument when resumed_step < 0 or beyond the last live step.
  caf::expected<int64_t> begin_incarnation(int64_t resumed_step);

  /// One transaction, durable before returning: the groups issued since the
  /// last call, the groups step `step` trained into `version`, and the groups
  /// dropped since the last call. `step` must be the last live step + 1.
  /// Record it before the checkpoint of `step` is written.
  caf::error record_step(int64_t step, int64_t version,
                         const std::vector<journal_group>& issued,
                         const std::vector<journal_group>& consumed,
                         const std::vector<journal_group>& dropped);

  /// The run ended (`ok` or not): the groups issued and dropped since the
  /// last step, and the groups still outstanding (issued, never trained, e.g.
  /// in flight at the end; accounted for, not lost). Once per incarnation;
  /// nothing can be recorded after it. `problems_drawn`: the cursor of the
  /// problem stream at the end; problems at or past it that an earlier,
  /// killed incarnation had issued were rolled back with its restore (the
  /// stream would hand them out next), so the audit does not count them lost.
  caf::error record_finish(bool ok, const std::vector<journal_group>& issued,
                           const std::vector<journal_group>& dropped,
                           const std::vector<journal_group>& outstanding,
                           std::optional<uint64_t> problems_drawn = std::nullopt);

  /// Where the current incarnation goes on; not_ready before begin_incarnation.
  caf::expected<journal_resume> resume_point() const;

  /// The incarnation begun by this handle (0: none yet).
  int64_t incarnation() const;
  /// The last live step (0: none).
  int64_t last_step() const;
  const std::string& path() const;

  struct impl; // SQLite stays out of this header

private:
  explicit run_journal(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Everything a journal holds, as read in one consistent snapshot.
struct journal_records {
  struct incarnation {
    int64_t number = 0;
    int64_t resumed_step = 0;
    bool finished = false;
    bool ok = false; // meaningful when finished
    int64_t cursor = -1; // problems drawn at its finish; -1 = not recorded
  };
  struct step {
    int64_t incarnation = 0;
    int64_t step = 0;
    int64_t version = 0;
    int64_t voided_by = 0; // the incarnation that voided it; 0 = live
  };
  /// One group event; `step` is the step recorded with it (the step that
  /// trained it, for consumptions), 0 for events recorded by record_finish.
  struct event {
    journal_group group;
    int64_t incarnation = 0;
    int64_t step = 0;
  };
  struct consumption {
    event what;
    bool live = false; // its step is not voided
  };
  std::string path;
  int64_t schema_version = 0;
  std::vector<incarnation> incarnations; // ascending
  std::vector<step> steps;
  std::vector<event> issued, dropped, outstanding;
  std::vector<consumption> consumed;
};

/// Reads the journal at PATH read-only (safe while a head writes it).
caf::expected<journal_records> read_journal(const std::string& path);

} // namespace tandem
