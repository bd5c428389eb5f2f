// actor_registry.hpp: the head's ledger of every actor's health, fed by
// heartbeats (actor_report) and by down messages; what the monitoring
// console's actor table (GET /api/actors) and event log show.
//
//   (new name) ──heartbeat──▶ starting ──report ready/busy/...──▶ <reported>
//                                │                                   │
//                                └─ no heartbeat, or busy and silent, ┤ (tick or
//                                   for stall_after                   │  report)
//                                                                    ▼
//   <reported> ◀──────────── heartbeat (event: recovered) ────────── stalled
//   any state ──actor_down / process_gone──▶ dead (sticky)
//   dead or alive ──heartbeat from a new sender (pid, incarnation)──▶ <reported>
//                                                  (restarts + 1, event: restarted)
//   <reported> is one of starting, ready, busy, waiting_for_weights, draining.
//
// Timing: senders beat every 500 ms; `stall_after` defaults to 1.5 s (three
// missed beats), and the caller ticks at least every 500 ms, so a silent
// actor is marked stalled at most 2 s after its last heartbeat. Dead needs no
// tick: actor_down / process_gone apply it when the owner handles the CAF
// down message or the launcher's exit notice.
//
// Reordering: heartbeats of different processes travel on different paths,
// so a late one may arrive after a newer one. Each sender numbers its
// reports (seq); a report whose seq is not above the last one accepted from
// that sender is ignored (counted). A sender is (pid, incarnation): a report
// from a new sender is a restart; the previous senders of a name are
// remembered (the last `retired_senders_kept`) so that their late reports
// neither revive a dead entry nor count as another restart.
//
// Invariants: an entry's derived state is stalled only after tick() found
// it silent, dead only after a down message or process_gone; reports never
// carry stalled or dead (rejected as invalid). Dead entries stay listed
// (and count against the capacity) until remove().
//
// Thread safety: one thread (the actor that owns the registry). Time comes
// in as an argument on every call, so tests step it instead of sleeping.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "runtime/health_report.hpp"

namespace tandem {

using registry_clock = std::chrono::steady_clock;
using registry_time = registry_clock::time_point;

/// The registry's view of one actor.
struct actor_health {
  actor_report report; // the last accepted one
  actor_state state = actor_state::starting;
  registry_time first_seen{};
  registry_time last_heartbeat{};
  registry_clock::duration heartbeat_age{}; // as of the snapshot's `now`
  std::optional<registry_time> last_error_at;
  uint32_t restarts = 0;
};

enum class actor_event_kind : uint8_t {
  joined, stalled, recovered, dead, restarted, error, removed,
  deadline_breach, // the actor reported more missed deadlines than before
};
const char* to_string(actor_event_kind k);

struct actor_event {
  uint64_t id = 0; // increasing; the console asks for events after an id
  registry_time at{};
  actor_event_kind kind = actor_event_kind::joined;
  std::string name;
  std::string role;
  std::string node;
  int64_t pid = 0;
  actor_state from = actor_state::starting;
  actor_state to = actor_state::starting;
  std::string detail; // the error text for `error`, else empty
};

struct registry_counters {
  uint64_t accepted = 0; // heartbeats applied
  uint64_t stale = 0;    // reordered or from a retired sender: ignored
  uint64_t refused = 0;  // new names past the capacity
  uint64_t invalid = 0;  // malformed reports
  uint64_t events_dropped = 0; // pushed out of the event ring
};

struct actor_registry_config {
  /// A topology runs tens to a few hundred actors (samplers per GPU, reward
  /// workers, learner ranks); 4096 is ten times the largest planned run yet
  /// keeps the head's ledger and a /api/actors reply (~1 KB an entry) small.
  size_t capacity = 4096;
  /// Three missed 500 ms heartbeats: see "Timing" above.
  registry_clock::duration stall_after = std::chrono::milliseconds(1500);
  /// The console shows the recent log; 1000 events cover a restart wave of
  /// every actor of a large run, and each is ~200 bytes. Older ones are
  /// dropped (counted in events_dropped).
  size_t event_capacity = 1000;
};

class actor_registry {
public:
  /// Reports are bounded so a heartbeat stays cheap: names up to 256 bytes,
  /// up to 16 queues, the error text cut to 1024 bytes.
  static constexpr size_t max_name_bytes = 256;
  static constexpr size_t max_queues = 16;
  static constexpr size_t max_error_bytes = 1024;
  /// Previous senders remembered per name (late reports from them ignored).
  static constexpr size_t retired_senders_kept = 8;

  explicit actor_registry(actor_registry_config cfg = {});

  /// Applies one report. A stale report is ignored without an error.
  /// invalid_argument / malformed_message for a bad report (field named);
  /// capacity_exceeded for a new name when the registry is full.
  caf::error heartbeat(const actor_report& r, registry_time now);

  /// The actor's CAF down message: dead. not_found for an unknown name.
  caf::error actor_down(const std::string& name, registry_time now);

  /// The process exited: every actor of (node, pid) turns dead. Returns the
  /// events (one per actor).
  std::vector<actor_event> process_gone(const std::string& node, int64_t pid,
                                        registry_time now);

  /// Marks actors silent for stall_after or longer as stalled; returns the
  /// transitions (also kept in the event ring).
  std::vector<actor_event> tick(registry_time now);

  /// Forgets a retired actor. not_found for an unknown name.
  caf::error remove(const std::string& name, registry_time now);

  /// Every actor, ordered by name, with heartbeat ages as of `now`.
  std::vector<actor_health> snapshot(registry_time now) const;
  std::optional<actor_health> find(const std::string& name, registry_time now) const;

  std::array<size_t, actor_state_count> count_by_state() const;
  size_t size() const { return actors_.size(); }

  /// Events with an id above `after_id`, oldest first (0: the whole ring).
  std::vector<actor_event> events_after(uint64_t after_id) const;
  const registry_counters& counters() const { return counters_; }
  /// The id of the newest event (0: none yet).
  uint64_t last_event_id() const { return next_event_id_ - 1; }
  const actor_registry_config& config() const { return cfg_; }

private:
  struct sender {
    int64_t pid = 0;
    uint64_t incarnation = 0;
    bool operator==(const sender& o) const {
      return pid == o.pid && incarnation == o.incarnation;
    }
  };
  struct entry {
    actor_health health;
    sender current;
    std::deque<sender> retired; // at most retired_senders_kept
  };
  caf::error admit_new(const actor_report& r, registry_time now);
  void apply(entry& e, const actor_report& r, registry_time now);
  void restart(entry& e, const actor_report& r, registry_time now);
  void mark_dead(entry& e, registry_time now, std::vector<actor_event>* out);
  actor_event& push_event(actor_event_kind kind, const actor_health& h,
                          actor_state from, registry_time now);

  actor_registry_config cfg_;
  std::map<std::string, entry> actors_; // ordered by name = snapshot order
  std::deque<actor_event> events_;      // at most cfg_.event_capacity
  uint64_t next_event_id_ = 1;
  registry_counters counters_;
};

/// A busy actor (not a learner in a phase: the watchdog judges those by the
/// phase's deadline) that has handled nothing for stall_after, as of `now`:
/// hung inside a handler while its process still beats.
bool hung(const actor_health& h, registry_time now, registry_clock::duration stall_after);

/// Checks a report's fields (names each bad one); what heartbeat() checks.
caf::error validate(const actor_report& r);

/// One actor as a JSON object (every string escaped; ages in ms as of the
/// snapshot's `now`). Keys: role, name, node, pid, state, reported_state,
/// version, in_flight, queues, tokens_per_s, phase (learners), nccl_epoch,
/// deadline_breaches, heartbeat_age_ms, first_seen_age_ms, restarts, errors,
/// last_error, last_error_age_ms (when there was one).
std::string to_json(const actor_health& h, registry_time now);

/// {"actors":[...],"counts":{"ready":n,...}}: the /api/actors reply.
std::string actors_json(const actor_registry& reg, registry_time now);

/// One event as a JSON object (age_ms as of `now`).
std::string to_json(const actor_event& e, registry_time now);

} // namespace tandem
