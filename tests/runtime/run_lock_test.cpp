// run_lock_test.cpp: one holder per run directory. A second acquire (a
// second descriptor in this process, or a forked process) fails naming the
// holder's pid; the lock is released by destruction and by the holder's
// death. The forked child and the parent hand over through pipes, each read
// with a deadline (poll), never a sleep.

#include "runtime/run_lock.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;

namespace {

constexpr int deadline_ms = 10'000;

std::string in_use_message(const std::string& dir, pid_t pid) {
  return "in_use: " + dir + " is in use by another tandem process (pid " + std::to_string(pid)
         + ")";
}

// One byte from `fd` within the deadline, or -1.
int read_byte(int fd) {
  pollfd p{fd, POLLIN, 0};
  char c = 0;
  if (::poll(&p, 1, deadline_ms) != 1 || ::read(fd, &c, 1) != 1)
    return -1;
  return c;
}

// A child process that takes the lock on `dir`, reports 'y' (or 'n') on a
// pipe, and holds the lock until its parent writes a byte, closes the pipe,
// or the deadline passes.
class lock_holder {
public:
  explicit lock_holder(const std::string& dir) {
    int up[2], down[2];
    if (::pipe(up) != 0 || ::pipe(down) != 0)
      ADD_FAILURE() << "pipe failed";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(up[0]);
      ::close(down[1]);
      auto lock = acquire_run_lock(dir);
      const char said = lock ? 'y' : 'n';
      (void) !::write(up[1], &said, 1);
      read_byte(down[0]);
      ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    from_child_ = up[0];
    to_child_ = down[1];
  }
  ~lock_holder() {
    finish();
    ::close(from_child_);
  }

  pid_t pid() const { return pid_; }
  /// Whether the child reported holding the lock in time.
  bool holds() { return read_byte(from_child_) == 'y'; }
  /// Lets the child exit and reaps it (it exits by itself at its deadline).
  void finish() {
    if (to_child_ >= 0) {
      ::close(to_child_);
      to_child_ = -1;
    }
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  void kill() {
    if (pid_ > 0)
      ::kill(pid_, SIGKILL);
    finish();
  }

private:
  pid_t pid_ = -1;
  int from_child_ = -1;
  int to_child_ = -1;
};

TEST(RunLock, ASecondAcquireInThisProcessFailsNamingThePid) {
  test::temp_dir dir;
  auto first = acquire_run_lock(dir.path());
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_TRUE(first->held());
  EXPECT_EQ(first->path(), dir / "run.lock");
  auto second = acquire_run_lock(dir.path());
  ASSERT_FALSE(second);
  EXPECT_TRUE(is(second.error(), errc::in_use));
  EXPECT_EQ(describe(second.error()), in_use_message(dir.path(), ::getpid()));
}

TEST(RunLock, TheLockFileHoldsTheHoldersPid) {
  test::temp_dir dir;
  auto lock = acquire_run_lock(dir.path());
  ASSERT_TRUE(lock);
  std::ifstream in(dir / "run.lock");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), std::to_string(::getpid()) + "\n");
}

TEST(RunLock, DestroyingOrReleasingTheLockFreesTheDirectory) {
  test::temp_dir dir;
  {
    auto lock = acquire_run_lock(dir.path());
    ASSERT_TRUE(lock);
    run_lock moved = std::move(*lock);
    EXPECT_FALSE(lock->held());
    EXPECT_TRUE(moved.held());
    EXPECT_FALSE(acquire_run_lock(dir.path()));
  }
  auto again = acquire_run_lock(dir.path());
  ASSERT_TRUE(again) << describe(again.error());
  again->release();
  EXPECT_FALSE(again->held());
  EXPECT_TRUE(acquire_run_lock(dir.path()));
}

TEST(RunLock, AnotherProcessHoldingTheDirectoryIsNamedByPid) {
  test::temp_dir dir;
  lock_holder child(dir.path());
  ASSERT_TRUE(child.holds());
  const pid_t pid = child.pid();
  auto mine = acquire_run_lock(dir.path());
  ASSERT_FALSE(mine);
  EXPECT_EQ(describe(mine.error()), in_use_message(dir.path(), pid));
  child.finish();
  auto after = acquire_run_lock(dir.path());
  EXPECT_TRUE(after) << describe(after.error());
}

TEST(RunLock, AHolderKilledOutrightReleasesTheLock) {
  test::temp_dir dir;
  lock_holder child(dir.path());
  ASSERT_TRUE(child.holds());
  EXPECT_FALSE(acquire_run_lock(dir.path()));
  child.kill();
  auto after = acquire_run_lock(dir.path());
  EXPECT_TRUE(after) << describe(after.error());
}

TEST(RunLock, AMissingRunDirectoryIsAnIoFailureNamingTheLockFile) {
  test::temp_dir dir;
  auto lock = acquire_run_lock(dir / "missing");
  ASSERT_FALSE(lock);
  EXPECT_EQ(describe(lock.error()),
            "io_failure: cannot open " + dir / "missing/run.lock" + ": No such file or directory");
}

} // namespace
