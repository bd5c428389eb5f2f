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
// Deadlines: the head publishing its address (timeouts.connect_s + 300 s);
// a running head bounds itself (its run deadline: every step's generate +
// train timeouts); a head told to stop gets timeouts.train_s + 660 s before
// it is killed.
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
/// at 8 s after deaths in quick succession (a process that dies at once must
/// not spin); a process that had run `stable` (15 s) before it died starts
/// the backoff over (it was killed, not crash-looping). At most `max`
/// restarts within `window`: the head's window is the whole run
/// (run.max_head_restarts); a worker's is a minute, and only early deaths
/// count there, so a worker that cannot start is given up while one killed
/// now and then is always replaced.
class restart_budget {
public:
  using clock = std::chrono::steady_clock;
  static constexpr auto stable = std::chrono::seconds{15};
  restart_budget(int32_t max, clock::duration window, bool forgive_stable = false)
    : max_(max), window_(window), forgive_stable_(forgive_stable) {}
  bool exhausted(clock::time_point now) const { return recent(now) >= max_; }
  /// Counts one restart at `now` of a process that ran for `uptime`, and
  /// returns the wait before it.
  std::chrono::milliseconds take(clock::time_point now, clock::duration uptime = {});
  int32_t used() const { return static_cast<int32_t>(times_.size()); }

private:
  int32_t recent(clock::time_point now) const;
  int32_t max_;
  clock::duration window_;
  bool forgive_stable_; // a stable process's death does not count toward max_
  int32_t quick_ = 0;   // deaths in a row after less than `stable`
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
