// health.hpp: a process's part in the monitoring console. Every process
// (head, worker, bench) has one health board and one health reporter
// (actors/health_reporter.hpp); its actors enlist on the board as they
// start, and the reporter beats to the head's health monitor.
//
// In the head the monitor is local; a worker asks the controller for it
// (health_atom) after joining, and again after rejoining a restarted head.
//
// Thread safety: start and stop from the thread that owns the actor system.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/internal/health_cell.hpp"

namespace tandem {

class health_reporting {
public:
  /// Sets the system's board (node name, this pid) and spawns the reporter,
  /// beating to `sink` (null: none until connect()).
  health_reporting(caf::actor_system& sys, const std::string& node, caf::actor sink = {});
  /// Stops the reporter and clears the system's board.
  ~health_reporting();
  health_reporting(const health_reporting&) = delete;
  health_reporting& operator=(const health_reporting&) = delete;

  /// Beats go to `sink` from now on.
  void set_sink(const caf::actor& sink);

  /// Asks `controller` for the head's health monitor (within `timeout`) and
  /// beats to it; false when the head has none or did not answer (the
  /// process then reports nothing: training is unaffected).
  bool connect(const caf::actor& controller,
               std::chrono::milliseconds timeout = std::chrono::seconds(5));

  const std::shared_ptr<health_board>& board() const { return board_; }

private:
  caf::actor_system& sys_;
  std::shared_ptr<health_board> board_;
  caf::actor reporter_;
};

} // namespace tandem
