// work_buffer.hpp: the controller's group accounting as an explicit state
// machine. Owns every admitted group until it is consumed or given up.
//
//   queued ──take_for_dispatch──▶ in_flight ──mark_generated──▶ scoring
//     ▲                              │                            │
//     └──────── requeue / requeue_holder (sampler or reward lost) ┘
//   scoring ──mark_scored──▶ scored ──take_batch──▶ training ──commit──▶ consumed
//                               ▲                       │
//                               └──── rollback ─────────┘
//   A group requeued more than `max_requeues` times is dropped (counted).
//   scored ──filter──▶ settled without training (dynamic sampling,
//   group_filter.hpp; counted as filtered, journaled with the dropped)
//
// Durable runs: a group's sampling seed is keyed by its problem id and
// attempt (not its group id), so a prompt issued again after a head restart
// (with a new group id) is sampled as it would have been. Admissions and
// drops are logged (issued_log / dropped_log) for the run journal; the
// controller drains both every step.
//
// Invariants: a group is in exactly one state; only the holder that a group
// was dispatched to may report it generated; consumed groups are forgotten
// (their ids stay unique because ids are never reused), so a late duplicate
// result is rejected instead of being counted twice.
//
// Thread safety: one thread (the controller actor).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/messages.hpp"

namespace tandem {

enum class group_state : uint8_t { queued, in_flight, scoring, scored, training };

const char* to_string(group_state s);

struct work_counters {
  uint64_t admitted = 0;
  uint64_t consumed = 0;
  uint64_t dropped = 0;   // given up after too many requeues
  uint64_t requeued = 0;  // returns to the queue (lost holder, timeout, stale)
  uint64_t rejected = 0;  // reports about unknown / not-held groups
  uint64_t filtered = 0;  // scored, settled untrained: no learning signal
};

class work_buffer {
public:
  /// `capacity` bounds the groups alive at once: the staleness gate keeps the
  /// live set near (eta + 1) * groups_per_step, so the bound only guards
  /// against a bug admitting without limit.
  work_buffer(size_t capacity, uint32_t max_requeues);

  /// queued. Fails with capacity_exceeded when full.
  caf::expected<uint64_t> admit(uint64_t problem_id, std::vector<int32_t> prompt,
                                std::string answer, int32_t group_size);

  /// Oldest queued groups (up to n) → in_flight at `holder`.
  std::vector<group_task> take_for_dispatch(size_t n, const std::string& holder,
                                            int64_t min_version, uint64_t seed_base);

  /// in_flight (held by `holder`) → scoring.
  caf::error mark_generated(uint64_t group_id, const std::string& holder);

  /// scoring → scored.
  caf::error mark_scored(uint64_t group_id, scored_group result);

  /// scored → settled without training (dynamic sampling). The group joins
  /// the dropped log: the journal treats it as settled, never regenerated.
  caf::error filter(uint64_t group_id);

  /// in_flight or scoring → queued (or dropped past max_requeues).
  caf::error requeue(uint64_t group_id);

  /// Requeues every group in flight at `holder`; returns their ids.
  std::vector<uint64_t> requeue_holder(const std::string& holder);

  /// Up to n scored groups, oldest first, → training. A scored group whose
  /// oldest token version is below `min_start_version` is requeued instead
  /// (it would break the staleness bound); its id lands in `stale_out`.
  std::vector<scored_group> take_batch(size_t n, int64_t min_start_version,
                                       std::vector<uint64_t>* stale_out = nullptr);

  /// training → consumed (forgotten).
  caf::error commit(const std::vector<uint64_t>& ids);

  /// training → scored.
  caf::error rollback(const std::vector<uint64_t>& ids);

  /// Groups admitted / dropped since the last call (for the run journal).
  std::vector<group_ref> take_issued();
  std::vector<group_ref> take_dropped();

  /// Every live group (any state), by id: what a checkpoint regenerates.
  std::vector<group_ref> live_groups() const;

  /// Restores the id counter and counters of a checkpoint (an empty buffer
  /// only): ids stay unique across head restarts.
  caf::error restore(uint64_t next_id, const work_counters& counters);
  uint64_t next_id() const { return next_id_; }

  size_t count(group_state s) const;
  size_t live() const { return groups_.size(); }
  size_t capacity() const { return capacity_; }
  const work_counters& counters() const { return counters_; }
  std::optional<group_state> state_of(uint64_t group_id) const;
  std::string holder_of(uint64_t group_id) const;

private:
  struct entry {
    group_task task;
    group_state state = group_state::queued;
    std::string holder;
    uint32_t attempts = 0;
    std::optional<scored_group> result;
  };
  caf::error expect_state(uint64_t id, group_state s, entry** out);
  void return_to_queue(std::map<uint64_t, entry>::iterator it);

  size_t capacity_;
  uint32_t max_requeues_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, entry> groups_; // ordered by id = admission order
  work_counters counters_;
  // Drained every step; between two drains at most the admissions of a few
  // steps happen (the staleness gate), so they stay small.
  std::vector<group_ref> issued_, dropped_;
};

/// Oldest policy version among the tokens of a group (its start version);
/// INT64_MAX for a group without tokens.
int64_t start_version(const rollout_group& g);

} // namespace tandem
