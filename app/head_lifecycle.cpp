// head_lifecycle.cpp: the head process's run directory, progress line,
// finish wait and final save.
#include "app/head_lifecycle.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <unistd.h>

#include <caf/all.hpp>

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"

namespace tandem {

std::atomic<bool> interrupted{false};
std::atomic<int> interrupted_by{0};

namespace {

void on_stop_signal(int sig) {
  interrupted_by = sig;
  interrupted = true;
}

} // namespace

void catch_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

// Waits for the controller's finished message. Deadline: every step may take
/// its full generate + train timeouts, plus the time workers need to connect.
outcome wait_for_finish(caf::scoped_actor& self, const run_config& cfg, const caf::actor& ctl,
                        const std::atomic<bool>& interrupted) {
  auto budget = std::chrono::duration<double>(
    cfg.run.steps * (cfg.timeouts.generate_s + cfg.timeouts.train_s) + cfg.timeouts.connect_s);
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration_cast<std::chrono::steady_clock::duration>(budget);
  outcome out;
  bool done = false, stop_sent = false;
  while (!done) {
    self->receive(
      [&](finished_atom, bool ok, const std::string& summary) {
        out = {ok, summary};
        done = true;
      },
      caf::after(std::chrono::milliseconds{250}) >> [&] {
        if (interrupted && !stop_sent) {
          std::cerr << "\ninterrupted: finishing the run\n";
          self->send(ctl, stop_atom::value);
          stop_sent = true;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          out = {false, "{\"ok\":0,\"reason\":\"run deadline passed\"}"};
          done = true;
        }
      });
  }
  return out;
}

bool save_weights(caf::scoped_actor& self, const caf::actor& learner, const std::string& path) {
  bool saved = false;
  self->request(learner, std::chrono::seconds{60}, save_atom::value, path)
    .receive(
      [&](int64_t v) {
        std::cerr << "saved weights v" << v << " to " << path << "\n";
        saved = true;
      },
      [&](caf::error& err) { std::cerr << "could not save weights: " << describe(err) << "\n"; });
  return saved;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

caf::error write_text_file(const std::string& path, const std::string& text) {
  return write_file_atomically(path, [&](std::ostream& out) { out << text << "\n"; });
}

std::function<void(const std::string&)> make_progress(bool quiet) {
  bool tty = ::isatty(STDERR_FILENO) != 0;
  auto count = std::make_shared<int64_t>(0);
  return [=](const std::string& line) {
    if (quiet)
      return;
    if (tty)
      std::cerr << "\r\033[K" << line << std::flush;
    else if ((*count)++ % 10 == 0)
      std::cerr << line << "\n";
  };
}

} // namespace tandem
