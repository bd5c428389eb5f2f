// chaos_command.cpp: `tandem chaos CONFIG --minutes M ...` — runs a real
// multi-process run under `tandem run`, SIGKILLs worker processes and the
// head on a seeded schedule for M minutes, lets the run finish, audits the
// journal and prints kills, detection and recovery times, steps lost and
// groups lost / duplicated (app/chaos_report.hpp). Exit 0 only when the run
// finished and the audit is clean.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <sys/stat.h>

#include "app/chaos_report.hpp"
#include "app/commands.hpp"
#include "app/head_lifecycle.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/process_launcher.hpp"
#include "runtime/journal_audit.hpp"

namespace tandem {

namespace {

using namespace std::chrono_literals;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// New records of a JSONL file another process appends to (or replaces
/// atomically: a new inode or a shorter file is read again from the start).
class jsonl_tail {
public:
  explicit jsonl_tail(std::string path) : path_(std::move(path)) {}

  /// `reread`: the file was replaced (a restarted head rewrote it), so the
  /// records are read again from its start.
  std::vector<json_value> poll(bool* reread = nullptr) {
    std::vector<json_value> out;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0)
      return out;
    if (st.st_ino != inode_ || st.st_size < offset_) {
      if (reread)
        *reread = inode_ != 0;
      inode_ = st.st_ino;
      offset_ = 0;
    }
    std::ifstream in(path_, std::ios::binary);
    in.seekg(offset_);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) // a line still being written: read it next time
        break;
      offset_ += static_cast<off_t>(line.size() + 1);
      if (auto v = parse_json(line, path_, {false, errc::malformed_message}))
        out.push_back(std::move(*v));
    }
    return out;
  }

private:
  std::string path_;
  ino_t inode_ = 0;
  off_t offset_ = 0;
};

int64_t int_of(const json_value& v, const char* key) {
  auto* x = v.find(key);
  return x && x->as_integer() ? *x->as_integer() : -1;
}

double num_of(const json_value& v, const char* key) {
  auto* x = v.find(key);
  return x && x->as_number() ? x->as_number()->value : 0;
}

std::string str_of(const json_value& v, const char* key) {
  auto* x = v.find(key);
  return x && x->as_string() ? *x->as_string() : "";
}

struct chaos_options {
  double minutes = 1;
  double worker_every = 0; // 0 = never
  double head_every = 0;
  uint64_t seed = 1;
  double finish_minutes = 60; // after the kills stop, the run must end within this
};

/// The live run as seen from its files.
struct run_view {
  int64_t head_pid = 0;
  double head_started = 0;
  int64_t last_step = 0;
  double last_step_at = 0;
  int64_t resumed_from = -1; // newest head_resumed step
  std::set<int64_t> workers;
};

class chaos_run {
public:
  chaos_run(std::string dir, chaos_options o)
    : dir_(std::move(dir)), opts_(o), rng_(o.seed), metrics_(dir_ + "/metrics.jsonl"),
      events_(dir_ + "/events.jsonl") {}

  int drive(child_process& run);
  const chaos_ledger& ledger() const { return ledger_; }

private:
  void read_files();
  void maybe_kill(double now);
  double next_gap(double every) {
    return every * std::uniform_real_distribution<double>(0.5, 1.5)(rng_);
  }

  std::string dir_;
  chaos_options opts_;
  std::mt19937_64 rng_;
  jsonl_tail metrics_, events_;
  run_view view_;
  chaos_ledger ledger_;
  double next_worker_ = 0, next_head_ = 0;
};

void chaos_run::read_files() {
  for (auto& e : events_.poll()) {
    auto ev = str_of(e, "event");
    auto pid = int_of(e, "pid");
    if (ev == "head_start") {
      view_.head_pid = pid;
      view_.head_started = num_of(e, "t");
    } else if (ev == "worker_start") {
      view_.workers.insert(pid);
    } else if (ev == "worker_exit" || ev == "head_exit") {
      view_.workers.erase(pid);
      ledger_.on_exit(pid, num_of(e, "t"));
    } else if (ev == "head_resumed") {
      view_.resumed_from = int_of(e, "step");
      ledger_.on_resume(view_.resumed_from);
    }
  }
  bool reread = false;
  for (auto& m : metrics_.poll(&reread)) {
    auto now = unix_now();
    // A restarted head rewrote the file up to its checkpoint: those records
    // were seen before; what follows is new.
    if (reread && int_of(m, "step") <= view_.resumed_from)
      continue;
    view_.last_step = int_of(m, "step");
    view_.last_step_at = now;
    ledger_.on_step(view_.last_step, now);
  }
}

void chaos_run::maybe_kill(double now) {
  // The head is killed once it trained a step of its own (a head killed
  // while it loads would only test the restart budget).
  if (opts_.head_every > 0 && now >= next_head_ && view_.head_pid > 0
      && view_.last_step_at > view_.head_started) {
    if (::kill(static_cast<pid_t>(view_.head_pid), SIGKILL) == 0) {
      ledger_.killed("head", view_.head_pid, now, view_.last_step);
      std::cerr << "chaos: SIGKILL head " << view_.head_pid << " after step " << view_.last_step
                << "\n";
    }
    view_.head_pid = 0;
    next_head_ = now + next_gap(opts_.head_every);
  }
  if (opts_.worker_every > 0 && now >= next_worker_ && !view_.workers.empty()) {
    auto it = view_.workers.begin();
    std::advance(it, std::uniform_int_distribution<size_t>(0, view_.workers.size() - 1)(rng_));
    auto pid = *it;
    if (::kill(static_cast<pid_t>(pid), SIGKILL) == 0) {
      ledger_.killed("worker", pid, now, view_.last_step);
      std::cerr << "chaos: SIGKILL worker " << pid << " after step " << view_.last_step << "\n";
    }
    view_.workers.erase(it);
    next_worker_ = now + next_gap(opts_.worker_every);
  }
}

int chaos_run::drive(child_process& run) {
  auto start = unix_now();
  auto chaos_end = start + opts_.minutes * 60;
  auto deadline = chaos_end + opts_.finish_minutes * 60;
  bool stopped = false;
  next_worker_ = start + next_gap(opts_.worker_every);
  next_head_ = start + next_gap(opts_.head_every);
  while (run.running()) {
    read_files();
    auto now = unix_now();
    if (now < chaos_end)
      maybe_kill(now);
    if (now > deadline && !stopped) { // SIGTERM: the run checkpoints and exits 143
      std::cerr << "chaos: the run did not finish within --finish-minutes; stopping it\n";
      ::kill(run.pid(), SIGTERM);
      stopped = true;
    }
    std::this_thread::sleep_for(50ms);
  }
  read_files();
  return run.exit_code();
}

} // namespace

int chaos_command(const args& a) {
  command_line cl("tandem chaos CONFIG --minutes M [flags]",
                  "run CONFIG while SIGKILLing its worker processes and head on a schedule; "
                  "then audit the journal and report detection, recovery and losses");
  cl.positional("CONFIG", "the run file (a multi-process run, e.g. configs/local-3proc)")
    .number("--minutes", "how long to keep killing", 1, 0, 100000)
    .number("--kill-worker-every", "seconds between worker kills, jittered +-50% (0 = none)", 0,
            0, 1e6)
    .number("--kill-head-every", "seconds between head kills, jittered +-50% (0 = none)", 0, 0,
            1e6)
    .integer("--seed", "seed of the schedule", 1, 0, 1000000000)
    .integer("--steps", "steps of the run (overrides run.steps)", 0, 0, 100000000)
    .number("--finish-minutes", "after the kills, the run must end within this (else SIGTERM)",
            60, 0.1, 100000)
    .text("--output", "DIR", "run directory (default: a new temporary one)");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  auto dir = cl.given("--output") ? cl.value("--output")
                                  : std::filesystem::temp_directory_path().string()
                                      + "/tandem-chaos-" + std::to_string(::getpid());
  std::vector<std::string> argv{self_executable_path(), "run", cl.positionals()[0], "--output",
                                dir, "--overwrite", "--quiet", "--max-head-restarts", "1000000"};
  if (cl.as_int("--steps") > 0)
    argv.insert(argv.end(), {"--steps", std::to_string(cl.as_int("--steps"))});
  os_process_launcher launcher;
  auto child = launcher.launch(argv);
  if (!child) {
    std::cerr << "chaos: cannot start the run: " << describe(child.error()) << "\n";
    return 1;
  }
  chaos_options o{cl.as_number("--minutes"), cl.as_number("--kill-worker-every"),
                  cl.as_number("--kill-head-every"), static_cast<uint64_t>(cl.as_int("--seed")),
                  cl.as_number("--finish-minutes")};
  chaos_run chaos(dir, o);
  int code = chaos.drive(**child);
  auto summary = read_text_file(dir + "/summary.json");
  while (!summary.empty() && summary.back() == '\n')
    summary.pop_back();
  auto report = audit_journal(dir + "/journal.db");
  std::string audit_text = report ? format_audit_text(*report)
                                  : "audit:           " + describe(report.error()) + "\n";
  std::cout << "chaos run in " << dir << "\n"
            << format_chaos(chaos.ledger(), code, summary.empty() ? "(no summary)" : summary,
                            audit_text);
  return code == 0 && report && !report->broken() ? 0 : 1;
}

} // namespace tandem
