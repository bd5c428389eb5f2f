// worker_command.cpp: `tandem worker` — one worker process of a run's plan
// (or one started by `tandem scale`), joined to a head's controller through
// CAF's middleman.
//
// Lifecycle: connect (retrying until timeouts.connect_s) → spawn the actors →
// announce them to the controller → serve until one of:
//  - the controller quit on its own (normal / user_shutdown: the run is
//    over): exit 0;
//  - all of this process's actors died: exit 1 (0 when all were retired);
//  - SIGTERM/SIGINT: exit 0;
//  - the head was lost (its process died or the link broke): keep the actors
//    and their loaded models, reset the samplers (actors/sampler_reset.hpp),
//    and rejoin the same HOST:PORT through its gate until timeouts.rejoin_s
//    passes (then exit 1); once in, re-ask the data-plane endpoints, rebuild
//    the weights fetcher, announce the same actors to the new controller and
//    serve again. A controller that failed while its process lives
//    (head_down::failed) is rejoined only on a new head process.
// A head lost before the first join is the connect_s case: exit 1.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
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
#include "wiring/health.hpp"
#include "wiring/worker.hpp"

namespace tandem {

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

using steady = std::chrono::steady_clock;

/// Why serving a head ended.
enum class serve_end { finished, failed, stopped, head_lost };

int exit_code(serve_end e) { return e == serve_end::failed ? 1 : 0; }

/// One worker process across the heads it serves.
struct session {
  const loaded_run& run;
  const process_plan& proc;
  std::string head_address;
  std::string secret;
  caf::actor head;          // the controller joined last
  worker_plane plane;
  worker_actors mine;
  size_t alive = 0;         // of mine.all()
  bool failed = false;      // one of them died abnormally
  caf::actor_addr stopping; // the lost head's fetcher until it is gone
  caf::error lost_reason;   // why the head went down (head_lost)
  std::optional<serve_end> pending; // an end seen while rejoining
  health_reporting* health = nullptr; // beats to the head's health monitor

  session(const loaded_run& r, const process_plan& p, std::string address, std::string key)
    : run(r), proc(p), head_address(std::move(address)), secret(std::move(key)) {}

  std::chrono::milliseconds connect_timeout() const {
    return std::chrono::milliseconds(static_cast<int64_t>(run.config.timeouts.connect_s * 1000));
  }
};

/// Accounts one down_msg; the end of serving, if it is one.
std::optional<serve_end> on_down(caf::actor_system& sys, session& s, const caf::down_msg& dm) {
  if (s.head && dm.source == s.head.address()) {
    if (classify_head_down(dm.reason) == head_down::finished)
      return serve_end::finished;
    s.lost_reason = dm.reason;
    return serve_end::head_lost;
  }
  if (dm.source == s.stopping) {
    s.stopping = nullptr;
    return std::nullopt;
  }
  // user_shutdown: the controller retired this sampler (scale-down).
  bool retired = dm.reason == caf::exit_reason::user_shutdown;
  if (!retired)
    std::cerr << "worker: actor died: " << sys.render(dm.reason) << "\n";
  s.failed |= !retired;
  if (--s.alive == 0)
    return s.failed ? serve_end::failed : serve_end::finished;
  return std::nullopt;
}

/// Serves the joined head until it goes down, this process's actors are
/// gone or a stop signal arrives.
serve_end serve(caf::scoped_actor& self, session& s) {
  if (s.pending)
    return *s.pending;
  self->monitor(s.head);
  std::optional<serve_end> end;
  while (!end) {
    self->receive(
      [&](caf::down_msg& dm) { end = on_down(self->system(), s, dm); },
      caf::after(std::chrono::milliseconds{250}) >> [&] {
        if (stop_requested)
          end = serve_end::stopped;
      });
  }
  return *end;
}

/// The head's ZeroMQ endpoints (empty strings: that flow stays on CAF).
caf::expected<data_plane_info> ask_data_plane(caf::scoped_actor& self, const caf::actor& head,
                                              std::chrono::milliseconds timeout) {
  caf::expected<data_plane_info> out{data_plane_info{}};
  self->request(head, timeout, data_plane_atom::value)
    .receive([&](data_plane_info& info) { out = std::move(info); },
             [&](caf::error& err) { out = std::move(err); });
  if (!out)
    return make_error(errc::io_failure, "no data-plane endpoints: " + describe(out.error()));
  return out;
}

/// Stops the lost head's fetcher; `s.stopping` clears when it is gone.
void stop_fetcher(caf::scoped_actor& self, session& s) {
  if (!s.mine.fetcher)
    return;
  s.stopping = s.mine.fetcher.address();
  self->monitor(s.mine.fetcher);
  self->send_exit(s.mine.fetcher, caf::exit_reason::user_shutdown);
  s.mine.fetcher = nullptr;
}

/// Waits (at most 5 s: a fetch takes at most fetcher_settings::fetch_deadline)
/// until the stopped fetcher is gone: every chunk it handed out is then
/// queued at the samplers before the reset that follows.
void await_fetcher_gone(caf::scoped_actor& self, session& s) {
  auto until = steady::now() + std::chrono::seconds{5};
  while (s.stopping && !s.pending && steady::now() < until) {
    self->receive(
      [&](caf::down_msg& dm) { s.pending = on_down(self->system(), s, dm); },
      caf::after(std::chrono::milliseconds{100}) >> [] {});
  }
  if (s.stopping)
    std::cerr << "worker " << s.proc.name << ": the old weights fetcher is still running\n";
}

/// Points the process's actors at the rejoined controller `ctl`: an error
/// of the kind errc::peer_down when `ctl` did not answer (try again).
caf::error reattach(caf::scoped_actor& self, session& s, const caf::actor& ctl) {
  await_fetcher_gone(self, s);
  auto info = ask_data_plane(self, ctl, s.connect_timeout());
  if (!info)
    return make_error(errc::peer_down, describe(info.error()));
  if (auto err = reattach_worker(self->system(), s.proc, s.mine, s.plane, *info, s.secret))
    return err;
  announce_worker(s.mine, ctl);
  s.head = ctl;
  if (s.health)
    s.health->connect(ctl);
  return caf::none;
}

/// The head is lost: drops its work at once and joins the head at the same
/// address again, until timeouts.rejoin_s passes. Returns the exit code when
/// the worker must stop instead.
std::optional<int> rejoin(caf::scoped_actor& self, session& s) {
  auto t0 = steady::now();
  auto rejoin_s = s.run.config.timeouts.rejoin_s;
  std::cerr << "worker " << s.proc.name << " lost its head " << s.head_address << " ("
            << self->system().render(s.lost_reason) << "); rejoining for up to " << rejoin_s
            << " s\n";
  stop_fetcher(self, s);
  reset_samplers(s.mine); // no more decoding for the lost controller
  auto deadline = t0 + std::chrono::duration_cast<steady::duration>(
                         std::chrono::duration<double>(rejoin_s));
  auto failed = classify_head_down(s.lost_reason) == head_down::failed;
  auto not_on = failed ? s.head.node() : caf::node_id{};
  for (;;) {
    auto ctl = rejoin_head(self->system(), s.head_address, s.proc.name, s.secret, deadline,
                           [] { return stop_requested.load(); }, not_on);
    if (!ctl && stop_requested)
      return 0;
    if (!ctl) {
      std::cerr << "worker " << s.proc.name << ": no head came back at " << s.head_address
                << " within timeouts.rejoin_s = " << rejoin_s << " s (" << describe(ctl.error())
                << "); exiting\n";
      return 1;
    }
    auto err = reattach(self, s, *ctl);
    if (!err)
      break;
    std::cerr << "worker " << s.proc.name << ": cannot serve the head at " << s.head_address
              << ": " << describe(err) << "\n";
    if (!is(err, errc::peer_down) || steady::now() > deadline)
      return 1;
  }
  std::cerr << "worker " << s.proc.name << " rejoined " << s.head_address << " after "
            << std::fixed << std::setprecision(1)
            << std::chrono::duration<double>(steady::now() - t0).count() << " s\n";
  return std::nullopt;
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

/// Joins the head, spawns this process's actors and serves until the end,
/// rejoining a head that was lost.
int join_and_serve(caf::actor_system& sys, const loaded_run& run, const process_plan& proc,
                   const std::string& head_address, const std::string& secret) {
  session s{run, proc, head_address, secret};
  auto head = join_head(sys, head_address, proc.name, secret, s.connect_timeout());
  if (!head) {
    std::cerr << "worker " << proc.name << ": " << describe(head.error()) << "\n";
    return 1;
  }
  s.head = *head;
  health_reporting health(sys, proc.node.empty() ? proc.name : proc.node);
  s.health = &health;
  caf::scoped_actor self{sys};
  auto info = ask_data_plane(self, s.head, s.connect_timeout());
  auto wp = info ? make_worker_plane(*info, secret) : caf::expected<worker_plane>{info.error()};
  auto mine = wp ? spawn_worker(sys, run.config, run.plan, proc, s.head, *wp)
                 : caf::expected<worker_actors>{wp.error()};
  if (!mine) {
    std::cerr << "worker " << proc.name << ": " << describe(mine.error()) << "\n";
    return 1;
  }
  s.plane = std::move(*wp);
  s.mine = std::move(*mine);
  auto all = s.mine.all();
  s.alive = all.size();
  for (auto& m : all)
    self->monitor(m);
  if (!health.connect(s.head))
    std::cerr << "worker " << proc.name << ": the head has no console; no health reports\n";
  std::cerr << "worker " << proc.name << " joined " << head_address << " with " << all.size()
            << " actor(s)\n";
  std::optional<int> code;
  while (!code) {
    auto end = serve(self, s);
    code = end == serve_end::head_lost ? rejoin(self, s) : exit_code(end);
  }
  for (auto& m : all)
    self->send_exit(m, caf::exit_reason::user_shutdown);
  return *code;
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
    .text("--name", "NAME", "its name (with --role)")
    .text("--run-dir", "DIR", "where the run's secret is (DIR/secret) when the config names "
                              "none (default: the config's run.output_dir)");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  if (!cl.given("--config") || !cl.given("--head")) {
    std::cerr << "tandem worker: --config and --head are required\n";
    return 2;
  }
  if (auto addr = parse_host_port(cl.value("--head")); !addr) {
    const auto& ctx = addr.error().context();
    std::cerr << "tandem worker: --head "
              << (ctx.size() == 1 && ctx.match_element<std::string>(0)
                    ? ctx.get_as<std::string>(0)
                    : describe(addr.error()))
              << "\n";
    return 2;
  }
  // A worker never outlives the process that started it (tandem run, tandem
  // node, tandem scale, or a supervisor that outlives its heads): the death
  // signal covers a parent dying from now on, the pid check one that died
  // already. A head that is not its parent it does not follow: it rejoins.
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
  // The configured secret, else RUN_DIR/secret of the config's run
  // directory (the head wrote it before it published its address).
  auto secret = load_run_secret(run.cluster, cl.given("--run-dir") ? cl.value("--run-dir")
                                                                   : run.config.run.output_dir);
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
