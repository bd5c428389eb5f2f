// head_command.cpp: `tandem head RUN_DIR` — the head process of a run,
// started (and restarted) by the supervisor of `tandem run` / `tandem
// resume` (app/supervisor.hpp); not meant to be typed by hand.
//
// It reads the run's effective config (RUN_DIR/config.yaml) and the run's
// secret (the configured one, else RUN_DIR/secret, created on first start:
// wiring/head_link.hpp ensure_run_secret), and with
// --resume restores the newest valid checkpoint: the learner's weights and
// AdamW state, the controller's cursor and counters, and metrics.jsonl cut
// back to the checkpoint's step. It opens the journal as a new incarnation,
// spawns the training graph through spawn_head() with the recorder, publishes
// the gate (on the ports the supervisor passes, so that surviving workers
// rejoin the same address) and writes RUN_DIR/head.json. Worker processes are
// the supervisor's, not its own. At the end it writes weights.tndm, then
// RUN_DIR/hf (runs from model.hf_path; wiring/hf_outputs.hpp) and has the
// evaluator score the final version (wiring/evaluation.hpp).
//
// Exit: 0 trained to the end, 1 failed, 2 bad config or checkpoint, 130 /
// 143 stopped by SIGINT / SIGTERM after a final checkpoint.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <iostream>

#include <sys/prctl.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/gate.hpp"
#include "actors/recorder.hpp"
#include "actors/scaler.hpp"
#include "app/commands.hpp"
#include "app/head_lifecycle.hpp"
#include "app/run_dir.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/process_launcher.hpp"
#include "topology/run_loader.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/components.hpp"
#include "wiring/control_endpoint.hpp"
#include "runtime/checkpoint.hpp"
#include "wiring/data_plane.hpp"
#include "wiring/evaluation.hpp"
#include "wiring/hf_outputs.hpp"
#include "wiring/head_console.hpp"
#include "wiring/head_link.hpp"
#include "wiring/health.hpp"

namespace tandem {

namespace {

/// The head's actors that are not part of the training graph.
struct head_extras {
  caf::actor scaler, gate, recorder;
  std::vector<caf::actor> plane; // ZeroMQ actors; null where a flow stays on CAF
  std::shared_ptr<const hf_exporter> hf;  // model.hf_path runs: the HF copies
  // The control port; owned by head_command, which stops its listener
  // before the actor system goes and its relay after (CAF's last bytes to
  // the workers still pass).
  std::unique_ptr<control_endpoint>* control = nullptr;
  std::optional<evaluation_parts> eval;   // eval.every / eval.samples_every
};

void stop_everything(caf::scoped_actor& self, const head_graph& g, const head_extras& x) {
  auto all = g.all();
  all.insert(all.end(), x.plane.begin(), x.plane.end());
  for (auto& h : {x.scaler, x.gate, x.recorder})
    all.push_back(h);
  for (auto& h : all)
    if (h)
      self->send_exit(h, caf::exit_reason::user_shutdown);
}

/// Serves the gate on the control port (workers, `tandem scale`, `tandem
/// status`; only peers that prove the run's secret reach CAF:
/// wiring/control_endpoint.hpp), tells the scaler and writes head.address
/// and head.json for the supervisor and the control commands.
caf::error publish_gate(caf::actor_system& sys, const loaded_run& run, head_extras& x,
                        const std::string& secret, const head_data_plane& plane,
                        const head_console& console) {
  const auto& plan = run.plan;
  transport::control_listener_settings settings;
  settings.bind_host = plan.bind_host;
  settings.port = plan.control_port;
  settings.secret = secret;
  auto log = [](const std::string& line) { std::cerr << line + "\n"; };
  auto control = serve_control(sys, x.gate, settings, log);
  if (!control)
    return make_error(errc::io_failure, "cannot serve the control port on " + plan.bind_host
                                          + ":" + std::to_string(plan.control_port) + ": "
                                          + describe(control.error()));
  auto head = plan.bind_host + ":" + std::to_string((*control)->port());
  *x.control = std::move(*control);
  caf::anon_send(x.scaler, publish_atom::value, head);
  const auto& dir = run.config.run.output_dir;
  if (auto err = write_text_file(dir + "/head.address", head))
    return err;
  return write_head_info(dir, head_info{head, endpoint_port(plane.info.rollouts),
                                        endpoint_port(plane.info.weights),
                                        static_cast<int64_t>(::getpid()),
                                        static_cast<int64_t>(console.port())});
}

/// The training graph through spawn_head(), reporting to `self`.
caf::expected<head_graph> spawn_training_graph(caf::actor_system& sys, const loaded_run& run,
                                               head_data_plane& plane, caf::scoped_actor& self,
                                               head_extras& x, restored_run& restored,
                                               bool quiet, head_console& console) {
  // Learner ranks in worker processes: rank 0's collective endpoint goes to
  // the workers with the data plane's, their actors come back through the
  // controller (learner_rank_atom) into the directory the proxies read.
  learner_link link;
  link.ctx = plane.ctx;
  link.bind_host = run.plan.bind_host;
  auto parts = make_head_parts(sys, run.config, run.plan, &link);
  if (!parts)
    return parts.error();
  if (auto err = restore_learner(*parts->trainer, restored))
    return err;
  auto settings = make_head_settings(run.config, run.plan);
  settings.controller.data_plane = plane.info;
  settings.controller.data_plane.learner_ranks = link.endpoint;
  settings.controller.data_plane.learner_group = link.group;
  settings.controller.data_plane.learner_nccl_id = link.nccl_id;
  settings.controller.on_learner_rank = [dir = link.directory, n = run.config.learner.ranks](
                                          int32_t rank, const caf::actor& handle) {
    if (rank > 0 && rank < n) // rank 0 is the head's own; the directory stays bounded
      dir->put(rank, handle);
  };
  settings.controller.first_group_id = static_cast<uint64_t>(restored.incarnation - 1) << 40;
  parts->metrics = std::make_shared<tee_sink>(std::move(restored.metrics), console.metrics());
  auto eval = make_evaluation(sys, run.config, run.plan, restored.step);
  if (!eval)
    return eval.error();
  if ((x.eval = std::move(*eval))) {
    parts->spawn_evaluator = x.eval->spawn;
    parts->metrics = std::make_shared<eval_metrics_sink>(parts->metrics, x.eval->board);
  }
  parts->monitor = console.monitor();
  parts->progress = make_progress(quiet);
  parts->observer = self;
  parts->scaler = x.scaler;
  parts->recorder = x.recorder;
  parts->resume = restored.controller;
  parts->weights_mirror = spawn_weights_server(sys, plane);
  x.plane.push_back(parts->weights_mirror);
  return spawn_head(sys, settings, *parts);
}

/// What the run wrote that is incomplete: the journal's end (asked of the
/// recorder, which handled the controller's journal_finish before this
/// request: both are local sends, queued in that order) or the TensorBoard
/// copy. Either makes the run not ok.
std::optional<std::string> unrecorded_outputs(caf::scoped_actor& self, const caf::actor& recorder,
                                              const restored_run& restored) {
  std::optional<std::string> why;
  self->request(recorder, std::chrono::seconds{60}, status_atom::value)
    .receive([](const std::string&) {}, [&](caf::error& err) { why = describe(err); });
  if (!why && restored.tensorboard && restored.tensorboard->failed())
    why = restored.tensorboard->what() + " is incomplete";
  return why;
}

/// After weights.tndm: RUN_DIR/hf (model.hf_path runs) and the final
/// version's evaluation (not after a stop signal). False when the HF copy
/// or a line of eval.jsonl / samples.jsonl failed: a result of the run is
/// missing.
bool evals_written(const head_extras& x) {
  auto n = x.eval ? x.eval->board->write_failures() : 0;
  if (n > 0)
    std::cerr << n << " line(s) of eval.jsonl / samples.jsonl could not be written\n";
  return n == 0;
}

bool finish_outputs(caf::scoped_actor& self, const head_graph& g, const head_extras& x,
                    const std::string& dir) {
  if (!x.hf && !(g.evaluator && x.eval && !interrupted))
    return evals_written(x);
  auto final_weights = read_checkpoint(dir + "/weights.tndm");
  if (!final_weights) {
    std::cerr << "cannot read back the final weights: " << describe(final_weights.error()) << "\n";
    return !x.hf;
  }
  if (g.evaluator && x.eval && !interrupted)
    finish_evaluation(self, g.evaluator, *final_weights, x.eval->final_timeout);
  if (!evals_written(x))
    return false;
  if (!x.hf)
    return true;
  if (auto err = write_final_hf(*x.hf, *real_file_system(), dir, final_weights->bytes)) {
    std::cerr << "cannot write " << dir << "/hf: " << describe(err) << "\n";
    return false;
  }
  std::cerr << "wrote the final weights as a Hugging Face directory: " << dir << "/hf\n";
  return true;
}

int exit_code_of(const outcome& res) {
  if (res.ok)
    return 0;
  if (interrupted)
    return 128 + interrupted_by.load();
  return 1;
}

/// Spawns the head (graph, data plane, gate, scaler) and runs it to the end.
/// A resumed head's console starts with the run's curves so far: the
/// records of metrics.jsonl (already cut back to the checkpoint's step).
void preload_curves(head_console& console, const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto at = line.find("\"step\":");
    if (at == std::string::npos)
      continue;
    auto step = std::strtoll(line.c_str() + at + 7, nullptr, 10);
    console.state()->add_metrics(step, line);
  }
}

/// The console (health monitor, web server, console.url): its URL and
/// token are printed, as the progress line cannot carry them.
caf::expected<std::unique_ptr<head_console>> start_console(caf::actor_system& sys,
                                                            const loaded_run& run,
                                                            const restored_run& restored,
                                                            health_reporting& health) {
  head_console_options o;
  o.console = run.config.console;
  o.run_dir = run.config.run.output_dir;
  o.incarnation = static_cast<uint32_t>(restored.incarnation);
  o.steps = run.config.run.steps;
  auto c = head_console::start(sys, o, [](const std::string& line) {
    std::cerr << "\r\033[K" << line << "\n";
  });
  if (!c)
    return c.error();
  health.set_sink((*c)->monitor());
  preload_curves(**c, run.config.run.output_dir + "/metrics.jsonl");
  if (!(*c)->url().empty())
    std::cerr << "console: " << (*c)->url() << "#token=" << (*c)->token() << "\n";
  return c;
}

int run_head(caf::actor_system& sys, const loaded_run& run, const std::string& secret,
             restored_run restored, bool quiet, std::unique_ptr<control_endpoint>& control) {
  const auto& cfg = run.config;
  health_reporting health(sys, run.plan.head().node.empty() ? std::string("head")
                                                            : run.plan.head().node);
  auto console_or = start_console(sys, run, restored, health);
  if (!console_or) {
    std::cerr << "cannot start the console: " << describe(console_or.error()) << "\n";
    return is(console_or.error(), errc::invalid_config) ? 2 : 1;
  }
  auto& console = **console_or;
  caf::scoped_actor self{sys};
  head_extras x;
  x.control = &control;
  x.scaler = sys.spawn(scaler_actor, std::make_shared<os_process_launcher>(),
                       self_executable_path(), cfg.source_path);
  auto config_text = read_text_file(cfg.source_path);
  auto hf = make_hf_exporter(cfg);
  if (!hf) {
    std::cerr << "cannot start: " << describe(hf.error()) << "\n";
    stop_everything(self, head_graph{}, x);
    return 1;
  }
  x.hf = *hf;
  x.recorder = sys.spawn<caf::detached>(
    recorder_actor, restored.journal, restored.store, cfg.run.keep_checkpoints,
    std::vector<checkpoint_blob>{
      checkpoint_blob{"config.yaml", std::vector<char>(config_text.begin(), config_text.end())}},
    hf_checkpoint_hook(x.hf, real_file_system()));
  auto plane = bind_head_data_plane(run.plan, secret);
  if (!plane) {
    std::cerr << "cannot bind the data plane: " << describe(plane.error()) << "\n";
    stop_everything(self, head_graph{}, x);
    return 1;
  }
  if (plane->enabled())
    std::cerr << "data plane: " << describe_plane(plane->info) << "\n";
  auto graph = spawn_training_graph(sys, run, *plane, self, x, restored, quiet, console);
  if (!graph) {
    std::cerr << "cannot start: " << describe(graph.error()) << "\n";
    stop_everything(self, head_graph{}, x);
    return is(graph.error(), errc::invalid_config) ? 2 : 1;
  }
  x.plane.push_back(spawn_rollout_intake(sys, *plane, graph->controller));
  console.attach(graph->controller);
  x.gate = sys.spawn(gate_actor, gate_settings{secret, graph->controller});
  if (auto err = publish_gate(sys, run, x, secret, *plane, console)) {
    std::cerr << describe(err) << "\n";
    stop_everything(self, *graph, x);
    return 1;
  }
  auto res = wait_for_finish(self, cfg, graph->controller, interrupted);
  std::cerr << "\n";
  console.finished(res.ok ? "finished" : interrupted ? "interrupted" : "failed");
  if (auto why = unrecorded_outputs(self, x.recorder, restored)) {
    std::cerr << *why << "\n";
    res = {false, "{\"ok\":0,\"reason\":" + json_quote(*why) + ",\"run\":" + res.summary + "}"};
  }
  // A run whose results could not be written did not succeed: the summary
  // says so (ok 0, the controller's own summary inside) and the exit is 1.
  bool saved = save_weights(self, graph->learner, cfg.run.output_dir + "/weights.tndm")
               && finish_outputs(self, *graph, x, cfg.run.output_dir);
  if (!saved)
    res = {false, "{\"ok\":0,\"reason\":\"the final weights could not be written (or a result "
                    "of the run: hf/, eval.jsonl, samples.jsonl)\",\"run\":"
                    + res.summary + "}"};
  if (auto err = write_text_file(cfg.run.output_dir + "/summary.json", res.summary)) {
    std::cerr << describe(err) << "\n";
    res.ok = false;
    saved = false;
  }
  std::cout << "summary: " << res.summary << "\n";
  stop_everything(self, *graph, x);
  return saved ? exit_code_of(res) : 1;
}

} // namespace

int head_command(const args& a) {
  command_line cl("tandem head RUN_DIR [flags]",
                  "the head process of a run (started by tandem run / tandem resume)");
  cl.positional("RUN_DIR", "the run directory (its config.yaml is the run's effective config)")
    .toggle("--resume", "continue from the newest valid checkpoint")
    .integer("--control-port", "bind the control endpoint here (0 = the plan's)", 0, 0, 65535)
    .integer("--data-port", "bind the rollouts endpoint here (0 = the plan's)", 0, 0, 65535)
    .integer("--weights-port", "bind the weights endpoint here (0 = the plan's)", 0, 0, 65535)
    .integer("--console-port", "serve the console here (0 = console.port)", 0, 0, 65535)
    .toggle("--quiet", "no progress lines");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  // The head never outlives its supervisor: it stops (and checkpoints) then.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  catch_stop_signals();
  const auto dir = cl.positionals()[0];
  auto run = load_run(dir + "/config.yaml");
  for (auto& i : run.issues)
    std::cerr << i.to_string() << "\n";
  if (!run.ok())
    return 2;
  if (auto p = cl.as_int("--control-port"))
    run.plan.control_port = static_cast<uint16_t>(p);
  if (auto p = cl.as_int("--data-port"))
    run.plan.data_port = static_cast<uint16_t>(p);
  if (auto p = cl.as_int("--weights-port"))
    run.plan.weights_port = static_cast<uint16_t>(p);
  if (auto p = cl.as_int("--console-port"))
    run.config.console.port = static_cast<int32_t>(p);
  // Before any port is bound: a run that names no secret gets one in
  // RUN_DIR/secret (mode 0600), which its workers and `tandem status
  // --run-dir` read; a resumed or restarted head reuses it.
  auto secret = ensure_run_secret(run.cluster, run.config.run.output_dir);
  if (!secret) {
    std::cerr << run.config.source_path << ": " << describe(secret.error()) << "\n";
    return 2;
  }
  auto restored = restore_run(run.config, cl.on("--resume"));
  if (!restored) {
    std::cerr << describe(restored.error()) << "\n";
    return is(restored.error(), errc::invalid_config) ? 2 : 1;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  // Declared before the actor system so that its relay outlives it: what
  // CAF writes while shutting down (the controller's exit) reaches the
  // workers. Its listener stops first: it hands sockets to the system.
  std::unique_ptr<control_endpoint> control;
  caf::actor_system sys{sys_cfg};
  auto rc = run_head(sys, run, *secret, std::move(*restored), cl.on("--quiet"), control);
  if (control)
    control->stop_listening();
  return rc;
}

} // namespace tandem
