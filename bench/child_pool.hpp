// child_pool.hpp: runs a list of jobs as child processes, at most
// `parallel` at a time, each with a deadline (`tandem bench staleness` runs
// one training per job: bench_staleness.hpp).
//
// A job's states:
//
//   waiting ──start──▶ running ──exits──▶ exited (its exit code)
//      │                  └──deadline──▶ timed_out (stopped: SIGTERM, grace, SIGKILL)
//      └──launch fails──▶ not_started (the launcher's error)
//
// Jobs start in list order, each in the lowest free slot (0..parallel-1);
// the caller's argv function turns (job, slot) into a command line, so a
// slot can stand for a CPU set. poll() is the only thing that moves a job:
// the caller calls it with the current time (a test with any time it likes)
// until done(). The pool owns its children: destroying it stops those still
// running. Nothing here sleeps; stopping a child past its deadline waits up
// to the grace period.
//
// Thread safety: one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/process_launcher.hpp"

namespace tandem {

class child_pool {
public:
  using clock = std::chrono::steady_clock;
  using argv_fn = std::function<std::vector<std::string>(size_t job, int32_t slot)>;

  struct result {
    enum class end { exited, timed_out, not_started };
    size_t job = 0;
    end how = end::exited;
    int exit_code = -1;  // exited: the child's (128 + signal if killed); else -1
    std::string error;   // not_started: why
    double wall_s = 0;   // from start to the poll that saw it end
  };

  child_pool(process_launcher& launcher, size_t jobs, int32_t parallel, clock::duration deadline,
             std::chrono::milliseconds grace, argv_fn argv);
  ~child_pool();
  child_pool(const child_pool&) = delete;
  child_pool& operator=(const child_pool&) = delete;

  /// Reaps the children that exited, stops those past their deadline, then
  /// starts waiting jobs into free slots; answers the jobs that ended in this
  /// call (exited, timed out, or not started).
  std::vector<result> poll(clock::time_point now);

  bool done() const { return next_ == jobs_ && running_.empty(); }
  size_t running() const { return running_.size(); }

private:
  struct live {
    size_t job;
    int32_t slot;
    clock::time_point started;
    std::unique_ptr<child_process> child;
  };
  void reap(clock::time_point now, std::vector<result>& out);
  void start(clock::time_point now, std::vector<result>& out);
  int32_t free_slot() const;

  process_launcher& launcher_;
  size_t jobs_;
  int32_t parallel_;
  clock::duration deadline_;
  std::chrono::milliseconds grace_;
  argv_fn argv_;
  size_t next_ = 0;           // first waiting job
  std::vector<live> running_; // at most parallel_
};

} // namespace tandem
