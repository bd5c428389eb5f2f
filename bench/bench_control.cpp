// bench_control.cpp: `tandem bench control` — the real control plane
// (controller with its work buffer, staleness gate and sampler pool, the
// reward actor, the weight broadcaster and the learner actor) driving N
// simulated samplers (actors/sim_sampler.hpp) and a simulated learner step
// (actors/sim_backends.hpp), to show how far one controller scales. With
// `--processes 1` the sim samplers live in a second OS process (`tandem
// sim-worker`, the same binary) and every sampler message crosses CAF's
// middleman, as with real worker processes.
//
// Method.
//   wall      from the moment all N samplers joined (the controller's status
//             reports N; polled every 1 ms, so dispatch starts within 1 ms of
//             it) to the controller's finished message.
//   messages  control-plane messages during the run, from the sim samplers'
//             counters and known per-step counts: generate request + reply
//             per request, score request + reply per generated group, train
//             request + reply and one publish per step (+ the initial
//             publish), every weights chunk and every weights ack.
//   ideal     the time the run would take if messages were free: the largest
//             of three lower bounds on the simulated work's critical path,
//             (a) the busiest sampler's summed simulated decode time,
//             (b) steps x simulated learner step time,
//             (c) the staleness-gated pipeline: with d = the longest simulated
//                 request decode time, w = ceil(B / (N x groups per request))
//                 rounds per wave of B groups and t the learner step,
//                 T(k) = max(T(k-1), T(k-1-eta) + w d) + t, T(<=0) = 0
//                 (batch k needs groups admitted once version k-1-eta
//                 existed; they decode for w rounds, then one learner step).
//   overhead share = 1 - ideal / wall: the share of wall time that went to
//             moving and handling messages (plus scheduling slack) rather
//             than to simulated work. cost per message = (wall - ideal) /
//             messages: the mean control-plane cost of one message, all
//             actors and (with --processes 1) both processes included.
//   With the defaults the simulated work is small on purpose (short decodes,
//   instant learner), so the overhead share is close to 1 and the cost per
//   message is the figure to read; raise --token-us / --learner-us to see
//   the control plane hide behind real work.
//
// Repeats: --rounds runs, each with a fresh actor system (and worker
// process); every time figure is printed as median [min..max] over them
// (control_report.hpp).
//
// Deadlines: joining (--connect-s), the run (--deadline-s), the sampler
// counters (10 s) and the worker's report (15 s) are each bounded; a missed
// one ends the bench with exit 1. The worker process is stopped at the end
// of every run (SIGTERM, then SIGKILL after 5 s).
//
// Thread budget: the head and the worker each run CAF's scheduler with 2
// threads (configure_actor_system); the learner is detached (its simulated
// step sleeps like a LibTorch step would block).
#include "bench/bench_control.hpp"
#include "bench/console_probe.hpp"
#include "bench/timing.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sim_backends.hpp"
#include "actors/weight_broadcaster.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/head.hpp"
#include "wiring/head_console.hpp"
#include "wiring/health.hpp"
#include "bench/control_report.hpp"
#include "bench/control_sim.hpp"
#include "bench/report_collector.hpp"
#include "runtime/error.hpp"
#include "runtime/process_launcher.hpp"
#include "tasks/arithmetic_task.hpp"

namespace tandem {

namespace {

using clock_type = bench_clock;
using namespace std::chrono_literals;

/// Polls the controller until all samplers joined; false at the deadline or
/// when `alive` says the worker process is gone.
bool wait_for_join(caf::scoped_actor& self, const caf::actor& controller, int32_t n,
                   double timeout_s, const std::function<bool()>& alive) {
  auto t0 = clock_type::now();
  while (since(t0) < timeout_s && alive()) {
    int64_t joined = -1;
    self->request(controller, 1s, status_atom::value)
      .receive([&](const std::string& json) { joined = json_int(json, "samplers"); },
               [&](caf::error&) {});
    if (joined >= n)
      return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

/// The head's actors: the real control plane, built by spawn_head as
/// `tandem run` builds it, with a simulated learner step and the arithmetic
/// task (not the run config's); the samplers join afterwards.
struct control_head {
  head_graph graph;
  std::shared_ptr<memory_sink> metrics = std::make_shared<memory_sink>();
};

caf::expected<control_head> spawn_control_head(caf::actor_system& sys, caf::scoped_actor& self,
                                               const control_options& o, head_console* console) {
  control_head h;
  head_settings hs;
  hs.broadcaster.ack_timeout = 30s;
  auto& cs = hs.controller;
  cs.steps = o.steps;
  cs.groups_per_step = o.groups_per_step;
  cs.group_size = o.group_size;
  cs.max_staleness = o.eta;
  cs.seed = o.seed;
  cs.expected_samplers = o.samplers;
  cs.connect_timeout = seconds(o.connect_s);
  cs.generate_timeout = 60s;
  cs.score_timeout = 30s;
  cs.train_timeout = 60s + micros(o.learner_us);
  head_parts parts;
  arithmetic_config ac;
  ac.seed = o.seed;
  parts.problems = std::shared_ptr<problem_source>{std::move(*arithmetic_task::make(ac))};
  parts.trainer = std::make_shared<sim_training_backend>(
    sim_training_settings{micros(o.learner_us), 64});
  parts.metrics = h.metrics;
  if (console) {
    parts.metrics = std::make_shared<tee_sink>(h.metrics, console->metrics());
    parts.monitor = console->monitor();
  }
  parts.observer = caf::actor_cast<caf::actor>(self);
  auto g = spawn_head(sys, hs, parts);
  if (!g)
    return g.error();
  if (console)
    console->attach(g->controller);
  h.graph = std::move(*g);
  return h;
}

/// Where the samplers run: in this process, or in a `tandem sim-worker`.
struct sampler_side {
  std::vector<caf::actor> local;
  caf::actor collector;
  std::unique_ptr<child_process> child;
};

caf::expected<sampler_side> start_samplers(caf::actor_system& sys, caf::scoped_actor& self,
                                           const caf::actor& controller,
                                           const control_options& o) {
  sampler_side s;
  if (o.processes == 0) {
    s.local = spawn_sim_samplers(sys, self, controller, o);
    return s;
  }
  s.collector = sys.spawn(report_collector_actor, caf::actor_cast<caf::actor>(self));
  auto port = sys.middleman().publish(controller, 0, "127.0.0.1", true);
  auto report_port = sys.middleman().publish(s.collector, 0, "127.0.0.1", true);
  if (!port || !report_port)
    return make_error(errc::io_failure, "cannot publish on 127.0.0.1");
  auto argv = std::vector<std::string>{self_executable_path(), "sim-worker", "--head",
                                       "127.0.0.1:" + std::to_string(*port), "--report",
                                       "127.0.0.1:" + std::to_string(*report_port)};
  auto flags = sampler_flags(o);
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto c = os_process_launcher{}.launch(argv);
  if (!c)
    return c.error();
  s.child = std::move(*c);
  return s;
}

/// From all samplers joined to the controller's finished message.
caf::expected<head_run> measure(caf::scoped_actor& self, const control_head& h,
                                const sampler_side& s, const control_options& o) {
  auto alive = [&] { return !s.child || s.child->running(); };
  const auto& g = h.graph;
  if (!wait_for_join(self, g.controller, o.samplers, o.connect_s, alive))
    return make_error(errc::timeout, "not all " + std::to_string(o.samplers)
                                       + " samplers joined within --connect-s");
  auto t0 = clock_type::now();
  head_run r;
  bool done = false;
  self->receive(
    [&](finished_atom, bool ok, const std::string& summary) {
      r.ok = ok, r.summary = summary, done = true;
    },
    caf::after(seconds(o.deadline_s)) >> [] {});
  r.wall = since(t0);
  if (!done || !r.ok)
    return make_error(errc::process_failure, done ? "run failed: " + r.summary
                                                  : "run missed its deadline (--deadline-s)");
  r.max_staleness = max_staleness_of(h.metrics->lines);
  auto totals = o.processes == 0 ? collect_totals(self, s.local, 10s) : await_report(self, 15s);
  if (!totals)
    return totals.error();
  r.totals = *totals;
  return r;
}

/// One run in a fresh actor system; everything it started is stopped.
caf::expected<head_run> run_once(const control_options& o) {
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  std::unique_ptr<health_reporting> health;
  std::unique_ptr<head_console> console;
  if (o.console) {
    health = std::make_unique<health_reporting>(sys, "head");
    head_console_options co;
    co.steps = o.steps;
    auto c = head_console::start(sys, co, nullptr);
    if (!c)
      return c.error();
    console = std::move(*c);
    health->set_sink(console->monitor());
  }
  caf::scoped_actor self{sys};
  auto h = spawn_control_head(sys, self, o, console.get());
  if (!h)
    return h.error();
  auto s = start_samplers(sys, self, h->graph.controller, o);
  std::unique_ptr<console_probe> probe;
  if (console)
    probe = std::make_unique<console_probe>(console->url(), 100ms);
  auto r = s ? measure(self, *h, *s, o) : caf::expected<head_run>{s.error()};
  if (probe && r) {
    auto f = probe->stop();
    r->actors_ms = f.actors_ms;
    r->actors_bytes = f.actors_bytes;
    r->stream_bytes = f.stream_bytes;
    r->scrapes = f.scrapes;
    r->console_failures = f.failures;
  }
  probe.reset();
  for (auto& a : h->graph.all())
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  if (s) {
    for (auto& h : s->local)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    if (s->collector)
      caf::anon_send_exit(s->collector, caf::exit_reason::user_shutdown);
    if (s->child)
      s->child->stop(5000ms);
  }
  return r;
}

} // namespace

int bench_control_command(const std::vector<std::string>& a) {
  command_line cl("tandem bench control [flags]",
                  "the real control plane (controller, reward, broadcaster, learner actor) "
                  "against simulated samplers and learner: dispatch rate, cost per message");
  declare_control_flags(cl);
  cl.integer("--rounds", "runs, each in a fresh actor system (median and range printed)", 3, 1,
             1000);
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto o = control_options_from(cl);
  if (!o) {
    std::cerr << "bench control: " << describe(o.error()) << "\n";
    return 2;
  }
  std::printf("bench control: %d sim samplers, %d steps x %d groups x %d completions, "
              "%lld us/token, tokens %d..%d, learner step %lld us, %lld round(s), "
              "%u hardware threads\n",
              o->samplers, o->steps, o->groups_per_step, o->group_size,
              static_cast<long long>(o->token_us), o->lengths.min_tokens, o->lengths.max_tokens,
              static_cast<long long>(o->learner_us), static_cast<long long>(cl.as_int("--rounds")),
              std::thread::hardware_concurrency());
  std::fflush(stdout);
  std::vector<head_run> runs;
  for (int64_t k = 0; k < cl.as_int("--rounds"); ++k) {
    auto r = run_once(*o);
    if (!r) {
      std::cerr << "bench control: " << describe(r.error()) << "\n";
      return 1;
    }
    print_round(*o, runs.size(), *r);
    runs.push_back(std::move(*r));
  }
  print_report(*o, runs);
  return 0;
}

} // namespace tandem
