// run_command.cpp: `tandem run` (the head process) and `tandem validate`.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/learner.hpp"
#include "app/commands.hpp"
#include "app/cluster_launch.hpp"
#include "app/data_plane.hpp"
#include "actors/gate.hpp"
#include "app/head_link.hpp"
#include "app/pipeline.hpp"
#include "app/scaler.hpp"
#include "runtime/error.hpp"
#include "runtime/process_launcher.hpp"
#include "topology/cluster_loader.hpp"
#include "topology/config_loader.hpp"
#include "topology/plan.hpp"

namespace tandem {

namespace {

std::atomic<bool> interrupted{false};

void on_sigint(int) { interrupted = true; }

bool print_issues(const config_result& r) {
  for (auto& i : r.issues)
    std::cerr << i.to_string() << "\n";
  return r.ok();
}

caf::error apply_overrides(run_config& cfg, const args& a) {
  try {
    if (has_flag(a, "--steps"))
      cfg.run.steps = std::stoi(flag_value(a, "--steps", ""));
    if (has_flag(a, "--output"))
      cfg.run.output_dir = flag_value(a, "--output", "");
    if (has_flag(a, "--target-reward"))
      cfg.run.target_reward = std::stod(flag_value(a, "--target-reward", ""));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "bad value for --steps/--output/--target-reward");
  }
  if (cfg.run.steps < 1)
    return make_error(errc::invalid_argument, "--steps must be >= 1");
  return caf::none;
}

/// Starts the layout's worker processes, joined to the head at `head`.
caf::expected<std::vector<std::unique_ptr<child_process>>>
launch_workers(const run_config& cfg, const head_layout& layout, const std::string& head) {
  os_process_launcher launcher;
  std::vector<std::unique_ptr<child_process>> kids;
  auto exe = self_executable_path();
  for (auto& extra : layout.workers) {
    auto argv = std::vector<std::string>{exe, "worker", "--config", cfg.source_path, "--head", head};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto c = launcher.launch(argv);
    if (!c)
      return c.error();
    kids.push_back(std::move(*c));
  }
  return kids;
}

/// Publishes the controller (its control endpoint: workers, `tandem scale`,
/// `tandem status`), tells the scaler, and starts the worker processes.
caf::expected<std::vector<std::unique_ptr<child_process>>>
start_workers(caf::actor_system& sys, const run_config& cfg, const head_layout& layout,
              const caf::actor& gate, const caf::actor& scaler) {
  // Only the gate is reachable from outside; it hands out the controller to
  // peers that prove they hold the run's secret.
  auto port = sys.middleman().publish(gate, layout.port, layout.bind_host.c_str(), true);
  if (!port)
    return make_error(errc::io_failure, "cannot publish the controller on " + layout.bind_host
                                          + ":" + std::to_string(layout.port) + ": "
                                          + sys.render(port.error()));
  auto head = layout.bind_host + ":" + std::to_string(*port);
  caf::anon_send(scaler, publish_atom::value, head);
  std::ofstream(cfg.run.output_dir + "/head.address") << head << "\n";
  auto kids = launch_workers(cfg, layout, head);
  if (!kids)
    return kids.error();
  std::cerr << "head on " << head << ", " << kids->size() << " worker process(es), pids";
  for (auto& k : *kids)
    std::cerr << " " << k->pid();
  std::cerr << "\n";
  return kids;
}

struct outcome {
  bool ok = false;
  std::string summary;
};

/// Waits for the controller's finished message. Deadline: every step may take
/// its full generate + train timeouts, plus the time workers need to connect.
outcome wait_for_finish(caf::scoped_actor& self, const run_config& cfg, const caf::actor& ctl) {
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

void save_weights(caf::scoped_actor& self, const caf::actor& learner, const std::string& path) {
  self->request(learner, std::chrono::seconds{60}, save_atom::value, path)
    .receive([&](int64_t v) { std::cerr << "saved weights v" << v << " to " << path << "\n"; },
             [&](caf::error& err) {
               std::cerr << "could not save weights: " << describe(err) << "\n";
             });
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

int run_loaded(run_config cfg, const head_layout& layout, const std::string& secret,
               const args& a) {
  namespace fs = std::filesystem;
  // Data-dependent config checks (a dataset's prompts vs. max_seq_len) come
  // before anything is created or started.
  if (auto src = make_problem_source(cfg); !src) {
    std::cerr << describe(src.error()) << "\n";
    return is(src.error(), errc::invalid_config) ? 2 : 1;
  }
  std::error_code ec;
  fs::create_directories(cfg.run.output_dir, ec);
  if (ec) {
    std::cerr << "cannot create " << cfg.run.output_dir << ": " << ec.message() << "\n";
    return 1;
  }
  auto sink = jsonl_file_sink::open(cfg.run.output_dir + "/metrics.jsonl");
  if (!sink) {
    std::cerr << describe(sink.error()) << "\n";
    return 1;
  }
  fs::copy_file(cfg.source_path, cfg.run.output_dir + "/config.yaml",
                fs::copy_options::overwrite_existing, ec);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  pipeline_options opts;
  opts.metrics = std::shared_ptr<metrics_sink>{std::move(*sink)};
  opts.progress = make_progress(has_flag(a, "--quiet"));
  opts.observer = self;
  opts.scaler = sys.spawn(scaler_actor, std::make_shared<os_process_launcher>(),
                          self_executable_path(), cfg.source_path);
  opts.local_samplers = layout.samplers;
  opts.local_rewards = layout.rewards;
  opts.expected_samplers = layout.expected_samplers;
  cfg.sampler.threads = layout.sampler_threads;
  cfg.learner.threads = layout.learner_threads;
  if (!layout.sampler_device.empty())
    cfg.sampler.device = layout.sampler_device; // the head's sampler placement has a GPU
  if (!layout.learner_device.empty())
    cfg.learner.device = layout.learner_device; // the learner placement's GPU
  cfg.weights_transport = layout.weights_transport;
  auto plane = bind_head_data_plane(layout, secret);
  if (!plane) {
    std::cerr << "cannot bind the data plane: " << describe(plane.error()) << "\n";
    return 1;
  }
  if (plane->enabled())
    std::cerr << "data plane: " << describe_plane(plane->info) << "\n";
  opts.data_plane = plane->info;
  opts.weights_mirror = spawn_weights_server(sys, *plane);
  std::vector<caf::actor> plane_actors{opts.weights_mirror};
  auto p = spawn_pipeline(sys, cfg, opts);
  if (!p) {
    std::cerr << "cannot start: " << describe(p.error()) << "\n";
    if (opts.weights_mirror)
      self->send_exit(opts.weights_mirror, caf::exit_reason::user_shutdown);
    return is(p.error(), errc::invalid_config) ? 2 : 1;
  }
  plane_actors.push_back(spawn_rollout_intake(sys, *plane, p->controller));
  auto gate = sys.spawn(gate_actor, gate_settings{secret, p->controller});
  auto stop_all = [&] {
    for (auto& a : plane_actors)
      if (a) // null where that flow stays on CAF
        self->send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& h : p->all())
      self->send_exit(h, caf::exit_reason::user_shutdown);
    self->send_exit(opts.scaler, caf::exit_reason::user_shutdown);
    self->send_exit(gate, caf::exit_reason::user_shutdown);
  };
  auto kids = start_workers(sys, cfg, layout, gate, opts.scaler);
  if (!kids) {
    std::cerr << describe(kids.error()) << "\n";
    stop_all();
    return 1;
  }
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  auto res = wait_for_finish(self, cfg, p->controller);
  std::cerr << "\n";
  save_weights(self, p->learner, cfg.run.output_dir + "/weights.tndm");
  std::ofstream(cfg.run.output_dir + "/summary.json") << res.summary << "\n";
  std::cout << "summary: " << res.summary << "\n";
  stop_all();
  for (auto& k : *kids)
    k->stop(std::chrono::milliseconds{5000});
  return res.ok ? 0 : 1;
}

} // namespace

std::string flag_value(const args& a, const std::string& flag, const std::string& fallback) {
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == flag)
      return a[i + 1];
  return fallback;
}

bool has_flag(const args& a, const std::string& flag) {
  for (auto& x : a)
    if (x == flag)
      return true;
  return false;
}

int run_command(const args& a) {
  if (a.empty() || a[0].rfind("--", 0) == 0) {
    std::cerr << "usage: tandem run CONFIG [--steps N] [--output DIR] [--quiet]\n";
    return 2;
  }
  auto loaded = load_run_config(a[0]);
  if (!print_issues(loaded))
    return 2;
  auto cluster = parse_cluster_file(a[0]);
  for (auto& i : cluster.issues)
    std::cerr << i.to_string() << "\n";
  if (!cluster.ok())
    return 2;
  if (auto err = apply_overrides(loaded.config, a)) {
    std::cerr << describe(err) << "\n";
    return 2;
  }
  auto layout = cluster.declared ? cluster_layout(loaded.config, cluster.cluster)
                                 : legacy_layout(loaded.config);
  auto secret = load_run_secret(cluster.cluster);
  if (!secret) {
    std::cerr << a[0] << ": " << describe(secret.error()) << "\n";
    return 2;
  }
  return run_loaded(std::move(loaded.config), layout, *secret, a);
}

namespace {

/// Run settings and cluster of one file, every problem of both printed.
bool load_all(const std::string& path, run_config* cfg, topology::Cluster* cluster) {
  auto r = load_run_config(path);
  bool ok = print_issues(r);
  if (!ok)
    return false; // the cluster loader would repeat syntax errors
  auto c = parse_cluster_file(path);
  for (auto& i : c.issues)
    std::cerr << i.to_string() << "\n";
  if (cfg)
    *cfg = std::move(r.config);
  if (cluster)
    *cluster = std::move(c.cluster);
  return c.ok();
}

} // namespace

int validate_command(const args& a) {
  if (a.empty()) {
    std::cerr << "usage: tandem validate CONFIG...\n";
    return 2;
  }
  bool all_ok = true;
  for (auto& path : a) {
    if (load_all(path, nullptr, nullptr))
      std::cout << path << ": ok\n";
    else
      all_ok = false;
  }
  return all_ok ? 0 : 2;
}

int plan_command(const args& a) {
  if (a.size() != 1) {
    std::cerr << "usage: tandem plan CONFIG\n";
    return 2;
  }
  run_config cfg;
  topology::Cluster cluster;
  if (!load_all(a[0], &cfg, &cluster))
    return 2;
  std::cout << format_plan(make_plan(cluster, cfg));
  return 0;
}

} // namespace tandem
