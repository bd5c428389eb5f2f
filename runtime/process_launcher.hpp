// process_launcher.hpp: starting and stopping child OS processes (each gets
// TANDEM_PARENT_PID=<launcher pid> in its environment), behind an
// interface so that supervision logic can be tested with a fake.
//
// Lifecycle of a child: running → (exited | terminated). stop() sends SIGTERM,
// waits up to a deadline, then SIGKILLs: no child outlives its launcher.
//
// Thread safety: one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace tandem {

class child_process {
public:
  virtual ~child_process() = default;
  virtual int pid() const = 0;
  /// Non-blocking: true while the process runs.
  virtual bool running() = 0;
  /// Exit code once exited (128 + signal if killed by a signal); -1 while running.
  virtual int exit_code() const = 0;
  /// SIGTERM, wait up to `grace`, then SIGKILL and reap.
  virtual void stop(std::chrono::milliseconds grace) = 0;
};

class process_launcher {
public:
  virtual ~process_launcher() = default;
  /// argv[0] is the program path. stdout/stderr are inherited.
  virtual caf::expected<std::unique_ptr<child_process>>
  launch(const std::vector<std::string>& argv) = 0;
};

/// posix_spawn-based launcher.
class os_process_launcher : public process_launcher {
public:
  caf::expected<std::unique_ptr<child_process>>
  launch(const std::vector<std::string>& argv) override;
};

/// Path of the running executable (/proc/self/exe resolved; /proc/self/exe
/// itself once the file was replaced, so children run the same binary).
std::string self_executable_path();

/// Waits up to `limit` for `child` to exit (polling every 10 ms: there is no
/// waitpid with a timeout). False if it still runs; the caller decides
/// whether to stop() it.
bool wait_exit(child_process& child, std::chrono::milliseconds limit);

} // namespace tandem
