// console_state.hpp: what the monitoring console serves, shared between the
// head's health monitor (actors/health_monitor.hpp, the only writer) and the
// HTTP console's threads (console/http_console.hpp, readers). The writer
// publishes whole documents; readers take the current one or wait for the
// next. Nothing a reader does can block the writer for longer than a
// pointer swap under a mutex: a slow browser never slows an actor.
//
// Contents:
//   snapshot   the latest /api/actors, /api/run and /metrics bodies, with a
//              sequence number that grows with every publish (SSE pushes a
//              snapshot whose seq a client has not seen)
//   events     the event log (joins, deaths, restarts, scale changes,
//              deadline breaches, watchdog causes): JSON objects, each given
//              an increasing id on arrival; a ring of `limits::events`
//   metrics    the run's metrics.jsonl records (one per step, the curves and
//              the staleness histogram); a ring of `limits::metrics`
//
// Thread safety: every member is safe to call from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tandem {

struct console_snapshot {
  uint64_t seq = 0;            // 0: nothing published yet
  std::string actors_json;     // GET /api/actors
  std::string run_json;        // GET /api/run
  std::string prometheus_text; // GET /metrics
};

struct console_event {
  uint64_t id = 0;
  std::string json; // a JSON object whose first key is "id"
};

struct console_metrics_record {
  int64_t step = 0;
  std::string json; // one metrics.jsonl line (a JSON object)
};

class console_state {
public:
  struct limits {
    /// The page shows the recent log; a restart wave of a 1,024-sampler run
    /// is ~2,000 events of ~250 bytes. Older ones are dropped (counted).
    size_t events = 4096;
    /// One record per step (~1.5 KB): 20,000 steps is a long run's curve at
    /// full resolution in ~30 MB; older steps are dropped (counted).
    size_t metrics = 20000;
  };

  explicit console_state(limits l);
  console_state() : console_state(limits{}) {}

  // -- writer (the health monitor) -------------------------------------------

  /// Replaces the snapshot (seq = previous + 1) and wakes waiting readers.
  void publish(std::string actors_json, std::string run_json, std::string prometheus_text);

  /// Appends an event. `object_json` is a JSON object ("{...}"); the stored
  /// text is that object with "id":N inserted as its first key. Returns N.
  uint64_t add_event(const std::string& object_json);

  /// Appends one step's metrics record. A step not above the last one
  /// stored (a resumed run repeats steps after its checkpoint) first drops
  /// the stored records from that step on. Wakes waiting readers.
  void add_metrics(int64_t step, std::string record_json);

  // -- readers (HTTP threads) ------------------------------------------------

  std::shared_ptr<const console_snapshot> snapshot() const;

  /// Blocks until a snapshot with seq > after_seq, a new event or a new
  /// metrics record exists, or until `timeout`; returns the current snapshot.
  /// "A new metrics record" is a last step other than `after_step`: a step
  /// below it means the log was cut back past the reader (see metrics_cuts).
  std::shared_ptr<const console_snapshot> wait_newer(uint64_t after_seq, uint64_t after_event,
                                                     int64_t after_step,
                                                     std::chrono::milliseconds timeout) const;

  /// Events with id > after_id, oldest first, at most `max`.
  std::vector<console_event> events_after(uint64_t after_id, size_t max) const;
  /// Metrics records with step > after_step, oldest first, at most `max`.
  std::vector<console_metrics_record> metrics_after(int64_t after_step, size_t max) const;

  uint64_t last_event_id() const;
  int64_t last_step() const; // -1 when none
  uint64_t events_dropped() const;
  uint64_t metrics_dropped() const;
  /// How many times add_metrics cut the log back (a repeated step). A reader
  /// that sees this change re-reads the records (its cursor may be past the
  /// cut, or the cut may have replaced the very step it holds).
  uint64_t metrics_cuts() const;

private:
  limits limits_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const console_snapshot> snapshot_;
  std::deque<console_event> events_;
  std::deque<console_metrics_record> metrics_;
  uint64_t next_event_id_ = 1;
  uint64_t events_dropped_ = 0;
  uint64_t metrics_dropped_ = 0;
  uint64_t metrics_cuts_ = 0;
};

} // namespace tandem
