// run_lock.hpp: one tandem process per run directory. Two supervisors (or a
// supervisor and a stray restart) writing one RUN_DIR would interleave
// checkpoints, journals and results; the second must stop at once and say
// who holds the directory.
//
// RUN_DIR/run.lock is created if missing and locked with a non-blocking
// exclusive flock(2); the holder writes its pid into it, for the message the
// next one prints. The lock belongs to the open file description, so:
//   - it is released when the run_lock is destroyed or release()d, and by
//     the kernel when the process dies, however it dies (no stale locks to
//     clean up by hand, unlike a pid file);
//   - a second acquire in the same process fails too (a second open);
//   - the descriptor is O_CLOEXEC: processes the holder starts through exec
//     do not hold the lock (the supervisor alone holds it).
// run.lock itself is never removed: unlinking it while another process
// waits on the old file would let two processes hold "the" lock.
// flock is advisory and node-local: on NFS it may not exclude a process on
// another host.
//
// Thread safety: a run_lock is a move-only value; use it from one thread.
#pragma once

#include <string>

#include <caf/expected.hpp>

namespace tandem {

class run_lock {
public:
  /// Not holding anything.
  run_lock() = default;
  run_lock(run_lock&& other) noexcept;
  run_lock& operator=(run_lock&& other) noexcept;
  run_lock(const run_lock&) = delete;
  run_lock& operator=(const run_lock&) = delete;
  ~run_lock();

  bool held() const { return fd_ >= 0; }
  /// RUN_DIR/run.lock (empty when not held).
  const std::string& path() const { return path_; }
  /// Releases the lock now (no-op when not held).
  void release();

private:
  friend caf::expected<run_lock> acquire_run_lock(const std::string& run_dir);
  run_lock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
};

/// Locks RUN_DIR (which must exist) for this process, without waiting.
/// errc::in_use "RUN_DIR is in use by another tandem process (pid N)" when
/// another holds it ("pid unknown" if it has not written its pid yet);
/// errc::io_failure naming run.lock when it cannot be opened or written.
caf::expected<run_lock> acquire_run_lock(const std::string& run_dir);

} // namespace tandem
