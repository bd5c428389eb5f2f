// supervisor.hpp: `tandem run` and `tandem resume` are a small supervisor
// around the run's processes. It holds the run directory's lock, starts the
// head (`tandem head RUN_DIR`) and, once the head has published its address,
// the worker processes the plan puts on the head's node. Then it watches:
//
//   head exits 0 / 1 / 2      the run ended: workers stopped, same exit code
//   head exits 130 / 143      interrupted (checkpoint written): same code
//   head dies otherwise       (SIGKILL, crash, OOM: exit 128+signal or any
//                             other code) → restarted with --resume on the
//                             same control and data ports, so the workers,
//                             which outlive it, rejoin; at most
//                             run.max_head_restarts times, backoff below
//   a worker fails or dies    restarted (3 within a minute at most, backoff),
//                             logged; one that exits 0 (its head finished, or
//                             it was retired) is not
//   SIGINT / SIGTERM          forwarded to the head, which checkpoints and
//                             exits 130 / 143; workers are stopped after it
//
// Every start and exit is one line on stderr and one record in
// RUN_DIR/events.jsonl ({"t": unix seconds, "event": ..., ...}), which
// `tandem chaos` reads for detection times.
//
// The decisions (what an exit means, when to restart, how long to wait) are
// plain functions below, tested without processes.
//
// Thread safety: runs on the main thread; signal handlers only set flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "topology/run_loader.hpp"

namespace tandem {

enum class head_exit { finished, failed, bad_config, interrupted, crashed };

/// 0 finished, 1 failed, 2 bad config, 130/143 interrupted, anything else
/// (128 + a signal other than INT/TERM, or an unexpected code) crashed.
head_exit classify_head_exit(int code);

/// Restarts allowed and the wait before each: 0.5 s, 1 s, 2 s, ... capped
/// at 8 s (a process that dies at once must not spin; one that died once
/// after hours comes back within a second). At most `max` restarts within
/// `window` (the head: the whole run; a worker: a minute, so that one
/// crash-looping worker is given up while rare deaths are always repaired).
class restart_budget {
public:
  using clock = std::chrono::steady_clock;
  restart_budget(int32_t max, clock::duration window) : max_(max), window_(window) {}
  bool exhausted(clock::time_point now) const { return recent(now) >= max_; }
  /// Counts one restart at `now` and returns the wait before it.
  std::chrono::milliseconds take(clock::time_point now);
  int32_t used() const { return static_cast<int32_t>(times_.size()); }

private:
  int32_t recent(clock::time_point now) const;
  int32_t max_;
  clock::duration window_;
  std::vector<clock::time_point> times_; // at most max_ within the window
};

struct supervisor_options {
  bool resume = false; // the first head resumes too (tandem resume)
  bool quiet = false;
};

/// Runs the run in `run` (loaded from RUN_DIR/config.yaml) to its end;
/// returns the exit code. The caller holds the run directory's lock.
int supervise(const loaded_run& run, const supervisor_options& opts);

} // namespace tandem
