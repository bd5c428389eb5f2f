// command_scorer.hpp: reward.kind: command — a user's program scores
// completions over JSON lines (example: configs/reward/my_reward.py).
//
// Protocol, per completion, on the program's stdin / stdout:
//   request  {"prompt": "...", "completion": "...", "answer": "..."}\n
//   reply    {"reward": x}\n          one line per request, in order
// The program's stderr goes to the run log, each line prefixed with
// "[reward command #i] ".
//
// reward.instances programs run side by side: a batch is dealt out in
// turn (completion k to instance k mod instances), and each instance is
// sent its share pipelined, up to 64 KiB of requests not yet answered, so
// a completion costs no round trip of its own (tandem bench reward:
// README "Measured"). An instance's whole share of a call must be answered
// within reward.timeout_s of the call's start (plus the start-up allowance
// when the instance was just started): the deadline is per call, as for
// the http plug-in, so the run's timeouts.score_s bounds it. Outcomes: a reply that is not one {"reward": finite number}
// line is malformed_message; no reply in time is timeout (the instance is
// killed); a program that exits or closes its stdout is process_failure.
// After a failure nothing more is sent, and the replies to what was sent
// are still read, so the instances stay in step. A killed or exited
// instance is started again at its next request. Every read and write has
// a deadline (poll()).
//
// Thread safety: one thread at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tasks/reward_scorer.hpp"

namespace tandem {

using steady_deadline = std::chrono::steady_clock::time_point;

/// One running program exchanging lines (the boundary; fakes in tests).
class line_process {
public:
  virtual ~line_process() = default;
  /// Writes `line` plus '\n'; timeout or process_failure.
  virtual caf::error write_line(const std::string& line, steady_deadline until) = 0;
  /// Reads one line (without '\n'); timeout, process_failure (exited), or
  /// malformed_message (a line over 1 MiB).
  virtual caf::expected<std::string> read_line(steady_deadline until) = 0;
  /// SIGKILL and reap; idempotent.
  virtual void kill() = 0;
};

/// Starts instance `index` (0-based).
using line_process_factory =
  std::function<caf::expected<std::unique_ptr<line_process>>(int32_t index)>;

/// Starts `argv` with stdin/stdout on a socket pair and stderr on a pipe
/// whose lines are handed to `log` while the process is read.
caf::expected<std::unique_ptr<line_process>>
spawn_line_process(const std::vector<std::string>& argv,
                   std::function<void(const std::string&)> log);

/// The real factory for reward.command: stderr lines go to std::cerr,
/// prefixed "[reward command #i] ".
line_process_factory command_factory(std::vector<std::string> argv);

class command_scorer : public reward_scorer {
public:
  /// `startup` is added to the deadline of the first request to an
  /// instance just started (the program's start-up).
  command_scorer(line_process_factory start, int32_t instances,
                 std::chrono::milliseconds timeout, std::chrono::milliseconds startup);
  ~command_scorer() override;

  caf::expected<std::vector<double>> score(const std::vector<score_item>& batch) override;

  /// Instances started so far (the first starts included).
  int64_t starts() const { return starts_; }

private:
  struct lane; // one instance's share of a batch (command_scorer.cpp)
  caf::error ensure_started(size_t i);
  void drop(lane& l);
  void send_window(lane& l, const std::vector<score_item>& batch, caf::error& first);
  void receive_one(lane& l, std::vector<double>& out, caf::error& first);

  line_process_factory start_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds startup_;
  std::vector<std::unique_ptr<line_process>> procs_; // size = instances
  std::vector<bool> fresh_;                          // started, not yet replied
  int64_t starts_ = 0;
};

/// One request line (see the top).
std::string command_request_line(const score_item& item);

} // namespace tandem
