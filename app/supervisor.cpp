#include "app/supervisor.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "app/run_dir.hpp"
#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/process_launcher.hpp"

namespace tandem {

head_exit classify_head_exit(int code) {
  switch (code) {
    case 0: return head_exit::finished;
    case 1: return head_exit::failed;
    case 2: return head_exit::bad_config;
    case 128 + SIGINT:
    case 128 + SIGTERM: return head_exit::interrupted;
    default: return head_exit::crashed;
  }
}

int32_t restart_budget::recent(clock::time_point now) const {
  int32_t n = 0;
  for (auto t : times_)
    n += (now - t < window_) ? 1 : 0;
  return n;
}

std::chrono::milliseconds restart_budget::take(clock::time_point now, clock::duration uptime) {
  const bool was_stable = uptime >= stable;
  quick_ = was_stable ? 0 : quick_ + 1;
  // Only the restarts inside the window count, so the record stays bounded.
  times_.erase(std::remove_if(times_.begin(), times_.end(),
                              [&](auto t) { return now - t >= window_; }),
               times_.end());
  if (!(forgive_stable_ && was_stable))
    times_.push_back(now);
  auto wait = std::chrono::milliseconds{500} * (1 << std::min(std::max(quick_ - 1, 0), 4));
  return std::min(wait, std::chrono::milliseconds{8000});
}

namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::atomic<int> stop_signal{0};
void on_signal(int sig) { stop_signal = sig; }

// A worker process restarted this often within a minute is left dead (and
// the run goes on with the others): a worker that cannot stay up needs a
// person; one killed now and then is always replaced.
constexpr int32_t worker_restarts = 3;
constexpr auto worker_window = std::chrono::minutes{1};
// How often the supervisor looks at its children: bounds detection time.
constexpr auto poll_interval = 50ms;

/// RUN_DIR/events.jsonl: one record per start and exit (run_dir.hpp). A
/// record that cannot be written is said once on stderr and makes the run's
/// exit non-zero: the run goes on, but its record is incomplete.
class event_log {
public:
  explicit event_log(std::string dir) : dir_(std::move(dir)) {}
  void add(const std::string& event, const std::string& fields) {
    auto err = append_event(dir_, event, fields);
    if (err && !failed_)
      std::cerr << "supervisor: " << describe(err) << "\n";
    failed_ |= static_cast<bool>(err);
  }
  bool failed() const { return failed_; }

private:
  std::string dir_;
  bool failed_ = false;
};

struct worker_slot {
  std::unique_ptr<child_process> child;
  restart_budget budget{worker_restarts, worker_window, true};
  clock::time_point started{};
  clock::time_point restart_at{};
  bool given_up = false;
};

class supervisor {
public:
  supervisor(const loaded_run& run, const supervisor_options& opts)
    : run_(run), opts_(opts), dir_(run.config.run.output_dir), events_(dir_),
      head_budget_(run.config.run.max_head_restarts, clock::duration::max()) {}

  int run();

private:
  bool start_head(bool resume);
  bool wait_head_info();
  void start_workers();
  void launch_worker(const std::string& name, worker_slot& w);
  void watch_workers();
  void stop_workers();
  /// The head ended with `code`: restart it (true) or end the run.
  bool restart_after(int code);

  const loaded_run& run_;
  supervisor_options opts_;
  std::string dir_;
  event_log events_;
  os_process_launcher launcher_;
  std::unique_ptr<child_process> head_;
  head_info info_;
  restart_budget head_budget_;
  std::map<std::string, worker_slot> workers_;
  int forwarded_ = 0;
  clock::time_point forwarded_at_{};
  clock::time_point head_started_{};
};

bool supervisor::start_head(bool resume) {
  std::vector<std::string> argv{self_executable_path(), "head", dir_};
  if (resume)
    argv.push_back("--resume");
  if (!info_.control.empty()) { // a restart: the ports the workers know
    argv.insert(argv.end(), {"--control-port", std::to_string(endpoint_port(info_.control)),
                             "--data-port", std::to_string(info_.data_port),
                             "--weights-port", std::to_string(info_.weights_port),
                             "--console-port", std::to_string(info_.console_port)});
  }
  if (opts_.quiet)
    argv.push_back("--quiet");
  auto c = launcher_.launch(argv);
  if (!c) {
    std::cerr << "supervisor: cannot start the head: " << describe(c.error()) << "\n";
    return false;
  }
  head_ = std::move(*c);
  head_started_ = clock::now();
  events_.add("head_start", "\"pid\":" + std::to_string(head_->pid()) + ",\"resume\":"
                              + (resume ? "true" : "false"));
  return true;
}

/// head.json written by this head (its pid), within connect_s plus the time
/// a head needs to build its model and restore a checkpoint.
bool supervisor::wait_head_info() {
  auto limit = clock::now() + std::chrono::duration_cast<clock::duration>(
                                std::chrono::duration<double>(run_.config.timeouts.connect_s))
               + 300s;
  while (clock::now() < limit && head_->running()) {
    auto info = read_head_info(dir_);
    if (info && info->pid == head_->pid()) {
      info_ = *info;
      return true;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  return false;
}

void supervisor::launch_worker(const std::string& name, worker_slot& w) {
  auto c = launcher_.launch(worker_argv(self_executable_path(), run_.config.source_path,
                                        info_.control, name));
  if (!c) {
    std::cerr << "supervisor: cannot start worker " << name << ": " << describe(c.error()) << "\n";
    w.given_up = true;
    return;
  }
  w.child = std::move(*c);
  w.started = clock::now();
  events_.add("worker_start", "\"name\":" + json_quote(name) + ",\"pid\":"
                                + std::to_string(w.child->pid()));
}

void supervisor::start_workers() {
  std::string pids;
  for (auto* p : run_.plan.workers_on(run_.plan.head_node)) {
    auto& w = workers_[p->name];
    launch_worker(p->name, w);
    if (w.child)
      pids += " " + std::to_string(w.child->pid());
  }
  std::cerr << "head on " << info_.control << ", " << workers_.size()
            << " worker process(es), pids" << pids << "\n";
}

/// A worker that exited while the run goes on is restarted after its backoff.
void supervisor::watch_workers() {
  for (auto& [name, w] : workers_) {
    if (w.given_up)
      continue;
    if (w.child && !w.child->running()) {
      auto code = w.child->exit_code();
      events_.add("worker_exit", "\"name\":" + json_quote(name) + ",\"pid\":"
                                   + std::to_string(w.child->pid()) + ",\"code\":"
                                   + std::to_string(code));
      w.child.reset();
      // Exit 0: the run ended for it (its head finished) or it was retired
      // by a scale-down. Only a worker that failed or was killed is replaced.
      if (code == 0) {
        w.given_up = true;
        continue;
      }
      if (w.budget.exhausted(clock::now())) {
        std::cerr << "\nsupervisor: worker " << name << " exited (code " << code << ") "
                  << worker_restarts << " times within a minute, each soon after its start; "
                  << "not restarted again\n";
        w.given_up = true;
        continue;
      }
      w.restart_at = clock::now() + w.budget.take(clock::now(), clock::now() - w.started);
      std::cerr << "\nsupervisor: worker " << name << " exited (code " << code
                << "); restarting it\n";
    }
    if (!w.child && clock::now() >= w.restart_at)
      launch_worker(name, w);
  }
}

void supervisor::stop_workers() {
  for (auto& [name, w] : workers_)
    if (w.child)
      w.child->stop(5000ms);
}

bool supervisor::restart_after(int code) {
  events_.add("head_exit", "\"pid\":" + std::to_string(head_->pid()) + ",\"code\":"
                             + std::to_string(code));
  if (classify_head_exit(code) != head_exit::crashed || forwarded_ != 0)
    return false;
  if (head_budget_.exhausted(clock::now())) {
    std::cerr << "\nsupervisor: the head died (code " << code << ") and "
              << head_budget_.used() << " restarts are used up (run.max_head_restarts)\n";
    return false;
  }
  auto wait = head_budget_.take(clock::now(), clock::now() - head_started_);
  std::cerr << "\nsupervisor: the head died (code " << code << "); restarting it from the "
            << "newest checkpoint in " << wait.count() << " ms (" << head_budget_.used() << "/"
            << run_.config.run.max_head_restarts << ")\n";
  auto until = clock::now() + wait;
  while (clock::now() < until && stop_signal == 0) {
    watch_workers();
    std::this_thread::sleep_for(poll_interval);
  }
  return stop_signal == 0 && start_head(true);
}

int supervisor::run() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (!start_head(opts_.resume))
    return 1;
  if (!wait_head_info()) {
    if (head_->running())
      head_->stop(5000ms);
    std::cerr << "supervisor: the head did not start (exit " << head_->exit_code() << ")\n";
    int code = head_->exit_code();
    return code == 2 ? 2 : 1;
  }
  start_workers();
  for (;;) {
    if (stop_signal != 0 && forwarded_ == 0) {
      forwarded_ = stop_signal;
      forwarded_at_ = clock::now();
      ::kill(head_->pid(), forwarded_);
    }
    // A stopping head finishes its step (timeouts.train_s) and writes a
    // checkpoint (the controller's 600 s bound); past both it is killed.
    if (forwarded_ != 0 && head_->running()
        && clock::now() - forwarded_at_ > std::chrono::duration<double>(
             run_.config.timeouts.train_s + 660)) {
      std::cerr << "supervisor: the head did not stop in time; killing it\n";
      head_->stop(0ms);
    }
    if (!head_->running()) {
      int code = head_->exit_code();
      if (restart_after(code))
        continue;
      stop_workers();
      if (classify_head_exit(code) == head_exit::crashed)
        return 1;
      return code == 0 && events_.failed() ? 1 : code;
    }
    if (forwarded_ == 0)
      watch_workers();
    std::this_thread::sleep_for(poll_interval);
  }
}

} // namespace

int supervise(const loaded_run& run, const supervisor_options& opts) {
  supervisor s(run, opts);
  return s.run();
}

} // namespace tandem
