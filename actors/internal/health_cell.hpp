// health_cell.hpp: one actor's self-reported health (health_cell), written
// by the actor on its own thread, and the process's list of them
// (health_board), read every 500 ms by the process's health reporter
// (actors/health_reporter.hpp), which sends them to the head.
//
// Why a cell and not a heartbeat message from each actor: an actor blocked
// in a long call (a learner's backward pass, a sampler's decode step) cannot
// send one, yet its phase is exactly what the console must show; and one
// batched message per process keeps heartbeats cheap with 1,024 samplers.
// A busy actor that stops touching its cell is still found out: every
// report carries how long the actor has been silent (actor_report::silent).
//
// Cost: each writer call takes one uncontended mutex (the reporter holds it
// for a copy every 500 ms); no allocation except for error texts and queue
// names on their first use.
//
// Thread safety: every member of both classes may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "runtime/health_report.hpp"

namespace tandem {

using health_clock = std::chrono::steady_clock;

class health_cell {
public:
  health_cell(std::string role, std::string name, uint64_t incarnation,
              health_clock::time_point now = health_clock::now());

  // -- writer (the actor); each call also counts as activity (touch) ---------
  /// State, version and in-flight work at once (one lock: actors that
  /// report after every message use this).
  void update(actor_state s, int64_t version, uint64_t in_flight);
  void set_state(actor_state s);
  void set_version(int64_t v);
  void set_in_flight(uint64_t n);
  /// Queue `index` (< actor_registry::max_queues): name, depth, capacity.
  void set_queue(size_t index, const char* name, uint64_t depth, uint64_t capacity);
  void add_tokens(uint64_t n);
  void set_phase(std::optional<learner_phase> p);
  void set_nccl_epoch(uint64_t e);
  void add_deadline_breach();
  void record_error(const std::string& text);
  void touch();

  // -- reader (the reporter) -------------------------------------------------
  /// The report as of `now` (node, pid and seq are the board's). Tokens/s
  /// is the rate since the previous read(), smoothed (EWMA, weight 0.5).
  actor_report read(health_clock::time_point now);

  const std::string& name() const { return name_; }

private:
  void touch_locked();
  static constexpr size_t max_queues = 16; // actor_registry::max_queues
  /// Error texts are cut here (actor_registry::max_error_bytes).
  static constexpr size_t max_error_bytes = 1024;

  std::mutex mu_;
  const std::string role_, name_;
  const uint64_t incarnation_;
  actor_state state_ = actor_state::starting;
  int64_t version_ = -1;
  uint64_t in_flight_ = 0;
  std::vector<queue_depth> queues_;
  uint64_t tokens_ = 0, tokens_read_ = 0;
  double tokens_per_s_ = 0;
  health_clock::time_point last_read_;
  std::optional<learner_phase> phase_;
  health_clock::time_point phase_since_;
  uint64_t nccl_epoch_ = 0, breaches_ = 0, errors_ = 0;
  std::string last_error_;
  health_clock::time_point last_error_at_;
  health_clock::time_point last_touch_;
};

class health_board {
public:
  /// Processes hold tens to a few thousand actors (1,024 simulated samplers
  /// in `tandem bench control`); past this, enlist refuses (null cell).
  static constexpr size_t capacity = 4096;

  health_board(std::string node, int64_t pid);

  /// A new cell for the actor `handle`, named `name` (unique in the run).
  /// Null when the board is full. The board keeps the cell only as long as
  /// the actor does (it holds a weak reference).
  std::shared_ptr<health_cell> enlist(const std::string& role, const std::string& name,
                                      const caf::actor& handle,
                                      health_clock::time_point now = health_clock::now());

  /// One beat: every live cell's report (a fresh seq each), with handles.
  /// Cells whose actor is gone are forgotten.
  health_beat collect(health_clock::time_point now);

  const std::string& node() const { return node_; }
  int64_t pid() const { return pid_; }
  size_t size() const;

private:
  struct entry {
    std::weak_ptr<health_cell> cell;
    caf::actor handle;
  };
  mutable std::mutex mu_;
  const std::string node_;
  const int64_t pid_;
  std::vector<entry> entries_;
  uint64_t next_incarnation_ = 1;
  uint64_t seq_ = 0;
};

/// A sampler's line (real or simulated): decoding = busy; requests held
/// back for a newer version than it holds = waiting_for_weights.
void report_sampler(health_cell& h, bool decoding, size_t queued, size_t max_queued,
                    int64_t version);

/// The board of an actor system (a process usually has one; benches and
/// tests run several in turn): set by the wiring that starts the system's
/// health reporter (null clears it, which that wiring does before the system
/// goes), read by actors as they start. None set (tests that build actors
/// alone): actors report nothing.
std::shared_ptr<health_board> health_board_of(const caf::actor_system& sys);
void set_health_board(const caf::actor_system& sys, std::shared_ptr<health_board> board);

/// Enlists on the system's board; null when there is none (or it is full).
std::shared_ptr<health_cell> enlist_health(const caf::actor_system& sys, const std::string& role,
                                           const std::string& name, const caf::actor& handle);

} // namespace tandem
