// run_snapshot.hpp: the controller's part of a checkpoint, and the problem
// cursor that makes "what was issued" restorable.
//
// A checkpoint is taken right after step k committed. What the controller
// must carry across a head restart to continue exactly:
//   - the step (= policy version) and the counters of the summary;
//   - the cursor of the problem stream (problems drawn so far) and the
//     problems drawn but not consumed (queued, in flight, scored: their work
//     is lost with the head and is regenerated, never trained twice);
//   - the group-id counter (ids stay unique across restarts);
//   - the reward window (the target_reward stop and the summary mean).
//
//   fresh run ──draw──▶ issued ──consume──▶ trained (in the checkpoint's weights)
//                        │
//                        └─ head dies ─▶ pending in the snapshot ─▶ issued
//                                         again first, in problem order
//
// Thread safety: one thread (the controller actor).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/internal/work_buffer.hpp"
#include "tasks/problem.hpp"

namespace tandem {

struct controller_snapshot {
  int64_t step = 0;              // steps trained = policy version
  uint64_t problems_drawn = 0;   // cursor of the problem stream
  std::vector<uint64_t> pending; // drawn, neither consumed nor dropped
  uint64_t next_group_id = 1;
  work_counters counters;
  uint64_t stale_refused = 0;
  uint64_t staleness_violations = 0;
  uint64_t skipped_problems = 0;
  std::vector<double> rewards;   // the reward window, oldest first
  double elapsed_s = 0;          // training time before this incarnation
};

/// One JSON object; doubles round-trip exactly.
std::string to_json(const controller_snapshot& s);
caf::expected<controller_snapshot> parse_controller_snapshot(const std::string& text,
                                                             const std::string& source);

/// The problem stream with a position: counts what was drawn, and after a
/// restore hands out the pending problems (in id order) before new ones.
class problem_cursor {
public:
  explicit problem_cursor(std::shared_ptr<problem_source> src) : src_(std::move(src)) {}

  /// Replays the deterministic stream up to `drawn` (problems are cheap to
  /// generate; a dataset's order is a function of its seed), keeping the
  /// problems whose ids are in `pending`. Fails if an id is not below the
  /// cursor (a snapshot that does not belong to this stream).
  caf::error restore(uint64_t drawn, const std::vector<uint64_t>& pending);

  problem next();
  uint64_t drawn() const { return drawn_; }
  /// Restored problems not handed out yet (still pending at a checkpoint).
  std::vector<uint64_t> unreplayed() const;

private:
  std::shared_ptr<problem_source> src_;
  uint64_t drawn_ = 0;
  // Bounded by the live groups of the snapshot (the work buffer's capacity).
  std::deque<problem> replay_;
};

} // namespace tandem
