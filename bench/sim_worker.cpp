// sim_worker.cpp: `tandem sim-worker` (bench_control.hpp), the second OS
// process of `tandem bench control --processes 1`: it connects to the head's
// controller and collector, runs the sim samplers until the head's run ends,
// and reports their counters to the collector.
//
// Deadlines: connecting (--connect-s), serving (--deadline-s + --connect-s),
// the counters (10 s) and the report's delivery (10 s); SIGTERM or SIGINT
// ends serving early (exit 1).
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "wiring/actor_system.hpp"
#include "bench/bench_control.hpp"
#include "bench/timing.hpp"
#include "bench/control_sim.hpp"
#include "runtime/error.hpp"
#include "wiring/health.hpp"

namespace tandem {

namespace {

using clock_type = bench_clock;
using namespace std::chrono_literals;

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

caf::expected<caf::actor> connect_to(caf::actor_system& sys, const std::string& addr,
                                     double timeout_s) {
  auto hp = parse_host_port(addr);
  if (!hp)
    return hp.error();
  auto t0 = clock_type::now();
  for (;;) {
    auto h = sys.middleman().remote_actor(hp->host, hp->port);
    if (h)
      return *h;
    if (since(t0) > timeout_s)
      return make_error(errc::timeout, "cannot reach " + addr + ": " + sys.render(h.error()));
    std::this_thread::sleep_for(200ms); // the head may still be starting
  }
}

/// Serves until the controller is gone (the run ended), SIGTERM, or the deadline.
bool serve_until_head_done(caf::scoped_actor& self, const caf::actor& head, double deadline_s) {
  self->monitor(head);
  auto t0 = clock_type::now();
  bool head_done = false;
  while (!head_done && !stop_requested && since(t0) < deadline_s)
    self->receive([&](caf::down_msg& dm) { head_done = dm.source == head.address(); },
                  caf::after(250ms) >> [] {});
  return head_done;
}

} // namespace

int sim_worker_command(const std::vector<std::string>& a) {
  command_line cl("tandem sim-worker --head HOST:PORT --report HOST:PORT [flags]",
                  "the sim samplers of `tandem bench control --processes 1` (started by it; "
                  "not for direct use)");
  cl.text("--head", "HOST:PORT", "the head's controller (required)")
    .text("--report", "HOST:PORT", "the head's collector of counters (required)");
  declare_control_flags(cl);
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto head_addr = cl.value("--head");
  auto report_addr = cl.value("--report");
  auto o = control_options_from(cl);
  if (head_addr.empty() || report_addr.empty() || !o) {
    std::cerr << "sim-worker: " << (o ? "--head and --report are required" : describe(o.error()))
              << "\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto head = connect_to(sys, head_addr, o->connect_s);
  auto report = head ? connect_to(sys, report_addr, o->connect_s) : head;
  if (!head || !report) {
    std::cerr << "sim-worker: " << describe(head ? report.error() : head.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  std::unique_ptr<health_reporting> health;
  if (o->console)
    health = std::make_unique<health_reporting>(sys, "sim-worker");
  auto samplers = spawn_sim_samplers(sys, self, *head, *o);
  if (health && !health->connect(*head))
    std::cerr << "sim-worker: the head has no health monitor\n";
  auto finished = serve_until_head_done(self, *head, o->deadline_s + o->connect_s);
  int code = finished ? 0 : 1;
  if (finished) {
    auto t = collect_totals(self, samplers, 10s);
    if (!t) {
      std::cerr << "sim-worker: " << describe(t.error()) << "\n";
      code = 1;
    } else {
      // A request, so the report is delivered before this process exits.
      self->request(*report, 10s, sim_report_atom::value, t->samplers, t->requests, t->groups,
                    t->tokens, t->chunks, t->acks, static_cast<int64_t>(t->busy_max.count()),
                    static_cast<int64_t>(t->longest.count()))
        .receive([](sim_report_atom) {},
                 [&](caf::error& err) {
                   std::cerr << "sim-worker: report not delivered: " << sys.render(err) << "\n";
                   code = 1;
                 });
    }
  }
  for (auto& s : samplers)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  return code;
}

} // namespace tandem
