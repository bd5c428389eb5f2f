// worker_command.cpp: `tandem worker` — one worker process of a run's plan
// (or one started by `tandem scale`), joined to a head's controller through
// CAF's middleman.
//
// Lifecycle: connect (retrying until timeouts.connect_s) → spawn the actor →
// announce it to the controller → run until the head goes away, the actor
// dies or SIGTERM/SIGINT arrives. Exit 0 when the head finished normally.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <sys/prctl.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "app/commands.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "topology/run_loader.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/data_plane.hpp"
#include "wiring/head_link.hpp"
#include "wiring/worker.hpp"

namespace tandem {

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

/// Runs until the head goes away (0), all of this process's actors died (1)
/// or a stop signal arrives (0).
int serve(caf::scoped_actor& self, const caf::actor& head, const std::vector<caf::actor>& mine) {
  self->monitor(head);
  for (auto& m : mine)
    self->monitor(m);
  size_t alive = mine.size();
  bool failed = false;
  int code = -1;
  while (code < 0) {
    self->receive(
      [&](caf::down_msg& dm) {
        if (dm.source == head.address()) {
          code = 0;
          return;
        }
        // user_shutdown: the controller retired this sampler (scale-down).
        bool retired = dm.reason == caf::exit_reason::user_shutdown;
        if (!retired)
          std::cerr << "worker: actor died: " << self->system().render(dm.reason) << "\n";
        failed |= !retired;
        if (--alive == 0)
          code = failed ? 1 : 0;
      },
      caf::after(std::chrono::milliseconds{250}) >> [&] {
        if (stop_requested)
          code = 0;
      });
  }
  for (auto& m : mine)
    self->send_exit(m, caf::exit_reason::user_shutdown);
  return code;
}

/// The head's ZeroMQ endpoints (empty strings: that flow stays on CAF).
caf::expected<data_plane_info> ask_data_plane(caf::scoped_actor& self, const caf::actor& head,
                                              std::chrono::milliseconds timeout) {
  caf::expected<data_plane_info> out{data_plane_info{}};
  self->request(head, timeout, data_plane_atom::value)
    .receive([&](data_plane_info& info) { out = std::move(info); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// This process's end of the data plane, from the head's endpoints.
caf::expected<worker_plane> connect_plane(caf::scoped_actor& self, const caf::actor& head,
                                          const std::string& secret,
                                          std::chrono::milliseconds timeout) {
  worker_plane wp;
  auto info = ask_data_plane(self, head, timeout);
  if (!info)
    return make_error(errc::io_failure, "no data-plane endpoints: " + describe(info.error()));
  wp.info = std::move(*info);
  if (!wp.info.rollouts.empty() || !wp.info.weights.empty()) {
    auto ctx = make_transport_context(secret);
    if (!ctx)
      return ctx.error();
    wp.ctx = *ctx;
  }
  return wp;
}

/// Which process this worker is: one of the plan's (--process), or one
/// started at runtime by `tandem scale` (--role R --name N).
caf::expected<process_plan> which_process(const command_line& cl, const loaded_run& run) {
  if (cl.given("--process")) {
    auto* p = run.plan.find(cl.value("--process"));
    if (p == nullptr || p->head)
      return make_error(errc::invalid_config, "no worker process '" + cl.value("--process")
                                                + "' in " + run.config.source_path);
    return *p;
  }
  auto role = cl.value("--role");
  if ((role != "sampler" && role != "reward") || !cl.given("--name"))
    return make_error(errc::invalid_argument,
                      "give --process NAME, or --role sampler|reward with --name NAME");
  return scaled_process(run.config, role == "sampler" ? topology::SAMPLER : topology::REWARD,
                        cl.value("--name"));
}

/// Joins the head, spawns this process's actors and serves until the end.
int join_and_serve(caf::actor_system& sys, const loaded_run& run, const process_plan& proc,
                   const std::string& head_address, const std::string& secret) {
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(run.config.timeouts.connect_s * 1000));
  auto head = join_head(sys, head_address, proc.name, secret, timeout);
  if (!head) {
    std::cerr << "worker " << proc.name << ": " << describe(head.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  auto wp = connect_plane(self, *head, secret, timeout);
  auto mine = wp ? spawn_worker(sys, run.config, run.plan, proc, *head, *wp)
                 : caf::expected<std::vector<caf::actor>>{wp.error()};
  if (!mine) {
    std::cerr << "worker " << proc.name << ": " << describe(mine.error()) << "\n";
    return 1;
  }
  std::cerr << "worker " << proc.name << " joined " << head_address << " with "
            << mine->size() << " actor(s)\n";
  return serve(self, *head, *mine);
}

} // namespace

int worker_command(const args& a) {
  command_line cl("tandem worker --config CONFIG --head HOST:PORT (--process NAME | --role R --name N)",
                  "run one worker process of a run and join its head (started by tandem run, "
                  "tandem node and tandem scale)");
  cl.text("--config", "FILE", "the run file")
    .text("--head", "HOST:PORT", "the head's control endpoint")
    .text("--process", "NAME", "a worker process of the run's plan")
    .text("--role", "ROLE", "sampler | reward (a process started by tandem scale)")
    .text("--name", "NAME", "its name (with --role)");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  if (!cl.given("--config") || !cl.given("--head")) {
    std::cerr << "tandem worker: --config and --head are required\n";
    return 2;
  }
  // A worker never outlives the process that started it: the death signal
  // covers a parent dying from now on, the pid check one that died already.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (const char* parent = std::getenv("TANDEM_PARENT_PID");
      parent != nullptr && std::to_string(::getppid()) != parent) {
    std::cerr << "worker: the process that started it (pid " << parent << ") is gone\n";
    return 1;
  }
  auto run = load_run(cl.value("--config"));
  for (auto& i : run.issues)
    std::cerr << i.to_string() << "\n";
  if (!run.ok())
    return 2;
  auto proc = which_process(cl, run);
  auto secret = load_run_secret(run.cluster);
  if (!proc || !secret) {
    std::cerr << "worker: " << describe(!proc ? proc.error() : secret.error()) << "\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto code = join_and_serve(sys, run, *proc, cl.value("--head"), *secret);
  // Nothing is left to save here. CAF's teardown may wait indefinitely for
  // references the middleman keeps for a head that vanished, so the worker
  // leaves directly instead of blocking its supervisor.
  std::cerr.flush();
  std::_Exit(code);
}

} // namespace tandem
