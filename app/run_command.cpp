// run_command.cpp: `tandem run` — the head process of a run. Everything it
// starts comes from load_run()'s plan (the same one `tandem plan` prints):
// the head's actors through spawn_head(), the worker processes of the
// head's node through worker_argv().
#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/gate.hpp"
#include "actors/learner.hpp"
#include "actors/scaler.hpp"
#include "app/commands.hpp"
#include "app/head_lifecycle.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/process_launcher.hpp"
#include "topology/run_loader.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/components.hpp"
#include "wiring/data_plane.hpp"
#include "wiring/head_link.hpp"

namespace tandem {

namespace {

using children = std::vector<std::unique_ptr<child_process>>;

/// Publishes the gate (the head's control endpoint: workers, `tandem
/// scale`, `tandem status`), tells the scaler, writes RUN_DIR/head.address
/// and starts the worker processes the plan puts on the head's node.
caf::expected<children> start_workers(caf::actor_system& sys, const loaded_run& run,
                                      const caf::actor& gate, const caf::actor& scaler) {
  const auto& plan = run.plan;
  // Only the gate is reachable from outside; it hands out the controller to
  // peers that prove they hold the run's secret.
  auto port = sys.middleman().publish(gate, plan.control_port, plan.bind_host.c_str(), true);
  if (!port)
    return make_error(errc::io_failure, "cannot publish the controller on " + plan.bind_host
                                          + ":" + std::to_string(plan.control_port) + ": "
                                          + sys.render(port.error()));
  auto head = plan.bind_host + ":" + std::to_string(*port);
  caf::anon_send(scaler, publish_atom::value, head);
  if (auto err = write_text_file(run.config.run.output_dir + "/head.address", head))
    return err;
  os_process_launcher launcher;
  children kids;
  for (auto* p : plan.workers_on(plan.head_node)) {
    auto c = launcher.launch(worker_argv(self_executable_path(), run.config.source_path, head,
                                         p->name));
    if (!c)
      return c.error();
    kids.push_back(std::move(*c));
  }
  std::cerr << "head on " << head << ", " << kids.size() << " worker process(es), pids";
  for (auto& k : kids)
    std::cerr << " " << k->pid();
  std::cerr << "\n";
  return kids;
}

/// The head's actors that are not part of the training graph.
struct head_extras {
  caf::actor scaler, gate;
  std::vector<caf::actor> plane; // ZeroMQ actors; null where a flow stays on CAF
};

void stop_everything(caf::scoped_actor& self, const head_graph& g, const head_extras& x) {
  auto all = g.all();
  all.insert(all.end(), x.plane.begin(), x.plane.end());
  all.push_back(x.scaler);
  all.push_back(x.gate);
  for (auto& h : all)
    if (h)
      self->send_exit(h, caf::exit_reason::user_shutdown);
}

/// The training graph through spawn_head(), reporting to `self`.
caf::expected<head_graph> spawn_training_graph(caf::actor_system& sys, const loaded_run& run,
                                               head_data_plane& plane, caf::scoped_actor& self,
                                               head_extras& x, std::shared_ptr<metrics_sink> sink,
                                               bool quiet) {
  auto parts = make_head_parts(sys, run.config, run.plan);
  if (!parts)
    return parts.error();
  auto settings = make_head_settings(run.config, run.plan);
  settings.controller.data_plane = plane.info;
  parts->metrics = std::move(sink);
  parts->progress = make_progress(quiet);
  parts->observer = self;
  parts->scaler = x.scaler;
  parts->weights_mirror = spawn_weights_server(sys, plane);
  x.plane.push_back(parts->weights_mirror);
  return spawn_head(sys, settings, *parts);
}

/// Spawns the head (graph, data plane, gate, scaler) and runs it to the end.
int run_head(caf::actor_system& sys, const loaded_run& run, const std::string& secret,
             std::shared_ptr<metrics_sink> sink, bool quiet) {
  const auto& cfg = run.config;
  caf::scoped_actor self{sys};
  head_extras x;
  x.scaler = sys.spawn(scaler_actor, std::make_shared<os_process_launcher>(),
                       self_executable_path(), cfg.source_path);
  auto plane = bind_head_data_plane(run.plan, secret);
  if (!plane) {
    std::cerr << "cannot bind the data plane: " << describe(plane.error()) << "\n";
    self->send_exit(x.scaler, caf::exit_reason::user_shutdown);
    return 1;
  }
  if (plane->enabled())
    std::cerr << "data plane: " << describe_plane(plane->info) << "\n";
  auto graph = spawn_training_graph(sys, run, *plane, self, x, std::move(sink), quiet);
  if (!graph) {
    std::cerr << "cannot start: " << describe(graph.error()) << "\n";
    stop_everything(self, head_graph{}, x);
    return is(graph.error(), errc::invalid_config) ? 2 : 1;
  }
  x.plane.push_back(spawn_rollout_intake(sys, *plane, graph->controller));
  x.gate = sys.spawn(gate_actor, gate_settings{secret, graph->controller});
  auto kids = start_workers(sys, run, x.gate, x.scaler);
  if (!kids) {
    std::cerr << describe(kids.error()) << "\n";
    stop_everything(self, *graph, x);
    return 1;
  }
  catch_stop_signals();
  auto res = wait_for_finish(self, cfg, graph->controller, interrupted);
  std::cerr << "\n";
  // A run whose results could not be written did not succeed: the summary
  // says so (ok 0, the controller's own summary inside) and the exit is 1.
  bool saved = save_weights(self, graph->learner, cfg.run.output_dir + "/weights.tndm");
  if (!saved)
    res = {false, "{\"ok\":0,\"reason\":\"the final weights could not be written\",\"run\":"
                    + res.summary + "}"};
  if (auto err = write_text_file(cfg.run.output_dir + "/summary.json", res.summary)) {
    std::cerr << describe(err) << "\n";
    res.ok = false;
  }
  std::cout << "summary: " << res.summary << "\n";
  stop_everything(self, *graph, x);
  for (auto& k : *kids)
    k->stop(std::chrono::milliseconds{5000});
  return res.ok ? 0 : 1;
}

bool print_issues(const std::vector<config_issue>& issues) {
  for (auto& i : issues)
    std::cerr << i.to_string() << "\n";
  return issues.empty();
}

} // namespace

int run_command(const args& a) {
  command_line cl("tandem run CONFIG [flags]", "train the run a YAML config describes "
                                                "(see configs/basic/run.yaml)");
  cl.positional("CONFIG", "the run file")
    .integer("--steps", "optimizer steps to train (overrides run.steps)", 0, 1, 100000000)
    .text("--output", "DIR", "run directory (overrides run.output_dir)")
    .number("--target-reward", "stop once the 10-step mean reward reaches it (0 = off)", 0, 0, 1)
    .toggle("--quiet", "no progress lines");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  run_overrides o;
  if (cl.given("--steps"))
    o.steps = static_cast<int32_t>(cl.as_int("--steps"));
  if (cl.given("--output"))
    o.output_dir = cl.value("--output");
  if (cl.given("--target-reward"))
    o.target_reward = cl.as_number("--target-reward");
  auto run = load_run(cl.positionals()[0], o);
  if (!print_issues(run.issues))
    return 2;
  auto secret = load_run_secret(run.cluster);
  if (!secret) {
    std::cerr << run.config.source_path << ": " << describe(secret.error()) << "\n";
    return 2;
  }
  // Data-dependent checks (a dataset's prompts vs. max_seq_len) come before
  // anything is created or started.
  if (auto src = make_problem_source(run.config); !src) {
    std::cerr << describe(src.error()) << "\n";
    return is(src.error(), errc::invalid_config) ? 2 : 1;
  }
  auto sink = prepare_run_dir(run.config);
  if (!sink) {
    std::cerr << describe(sink.error()) << "\n";
    return 1;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  return run_head(sys, run, *secret, std::move(*sink), cl.on("--quiet"));
}

} // namespace tandem
