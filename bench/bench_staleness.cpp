// bench_staleness.cpp: `tandem bench staleness` (method: bench_staleness.hpp):
// flags, the cells' configs, the children and the report.
#include "bench/bench_staleness.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <sched.h>
#include <unistd.h>

#include "bench/child_pool.hpp"
#include "bench/staleness_cells.hpp"
#include "bench/staleness_figures.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/process_launcher.hpp"
#include "topology/effective_config.hpp"
#include "topology/run_loader.hpp"

namespace tandem {

namespace {

namespace fs = std::filesystem;

command_line staleness_flags() {
  command_line cl("tandem bench staleness CONFIG [flags]",
                  "whole trainings of CONFIG for every staleness bound eta, with and without "
                  "the decoupled objective, over seeds: steps and wall time to the target "
                  "reward, final reward; median and range per (eta, objective)");
  cl.positional("CONFIG", "a run config (e.g. configs/basic/run.yaml)")
    .text("--eta", "LIST", "staleness bounds (run.max_staleness), comma-separated",
          "0,1,2,4,8")
    .integer("--seeds", "seeds per (eta, objective): run.seed 1..N", 3, 1, 1000)
    .number("--target", "target reward; 0: the config's run.target_reward", 0, 0, 1)
    .integer("--steps", "steps at most per run; 0: the config's run.steps", 0, 0, 100000000)
    .text("--out", "DIR", "where the runs go (default: a new directory under the temp dir)")
    .text("--json", "FILE", "also write the table and every run as JSON")
    .integer("--run-timeout", "seconds before a run is stopped and counted as timed out", 900,
             1, 86400 * 7)
    .integer("--parallel", "runs at a time, each pinned to its share of the CPUs", 1, 1, 256);
  return cl;
}

struct bench_settings {
  std::string config;
  std::vector<int32_t> etas;
  int32_t seeds = 0, parallel = 1;
  run_overrides base; // --steps, --target
  double target = 0;
  int32_t steps = 0;
  std::string out_dir, json_path;
  std::chrono::seconds run_timeout{0};
};

caf::expected<std::string> make_out_dir(const command_line& cl) {
  std::error_code ec;
  if (cl.given("--out")) {
    auto dir = fs::absolute(cl.value("--out")).lexically_normal().string();
    fs::create_directories(dir, ec);
    if (ec)
      return make_error(errc::io_failure, "--out: cannot create " + dir + ": " + ec.message());
    return dir;
  }
  auto pattern = (fs::temp_directory_path(ec) / "tandem-staleness-XXXXXX").string();
  if (ec || ::mkdtemp(pattern.data()) == nullptr)
    return make_error(errc::io_failure, "cannot create a directory under the temp dir");
  return pattern;
}

/// The flags and the run file, checked: the run file as loaded with
/// --steps and --target must be valid and have a target.
caf::expected<bench_settings> settings_from(const command_line& cl) {
  bench_settings s;
  s.config = cl.positionals().front();
  auto etas = parse_eta_list(cl.value("--eta"));
  if (!etas)
    return etas.error();
  s.etas = *etas;
  s.seeds = static_cast<int32_t>(cl.as_int("--seeds"));
  s.parallel = static_cast<int32_t>(cl.as_int("--parallel"));
  s.run_timeout = std::chrono::seconds{cl.as_int("--run-timeout")};
  s.json_path = cl.value("--json");
  if (cl.as_int("--steps") > 0)
    s.base.steps = static_cast<int32_t>(cl.as_int("--steps"));
  if (cl.as_number("--target") > 0)
    s.base.target_reward = cl.as_number("--target");
  auto run = load_run(s.config, s.base);
  for (auto& i : run.issues)
    std::cerr << i.to_string() << "\n";
  if (!run.ok())
    return make_error(errc::invalid_config, s.config + ": invalid (issues above)");
  s.target = run.config.run.target_reward;
  s.steps = run.config.run.steps;
  if (s.target <= 0)
    return make_error(errc::invalid_config, s.config + ": run.target_reward is 0 (off); the "
                                                       "bench needs a target: pass --target R");
  return s;
}

caf::error write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out)
    return make_error(errc::io_failure, "cannot write " + path);
  return {};
}

std::string cell_path(const bench_settings& s, const staleness_cell& c, const char* ext) {
  return s.out_dir + "/" + cell_name(c) + ext;
}

/// Writes every cell's config and checks it as `tandem run` will.
caf::error write_cell_configs(const bench_settings& s, const std::vector<staleness_cell>& cells) {
  for (auto& c : cells) {
    auto o = s.base;
    o.max_staleness = c.eta;
    o.output_dir = cell_path(s, c, "");
    auto eff = effective_config_yaml(s.config, o);
    auto yaml = eff ? cell_config_yaml(*eff, c) : caf::expected<std::string>(eff.error());
    if (!yaml)
      return yaml.error();
    auto path = cell_path(s, c, ".yaml");
    if (auto err = write_file(path, *yaml))
      return err;
    auto run = load_run(path);
    for (auto& i : run.issues)
      std::cerr << i.to_string() << "\n";
    if (!run.ok())
      return make_error(errc::invalid_config, path + ": cell " + cell_name(c)
                                                + " has an invalid config (issues above)");
  }
  return {};
}

/// The CPUs this process may run on.
std::vector<int32_t> allowed_cpus() {
  std::vector<int32_t> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0)
    return out;
  for (int32_t c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set))
      out.push_back(c);
  return out;
}

/// taskset's path in PATH, or "".
std::string find_taskset() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs{path ? path : ""};
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    auto p = fs::path(dir.empty() ? "." : dir) / "taskset";
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0)
      return p.string();
  }
  return {};
}

/// How children are placed: the taskset path and the CPUs (empty: unpinned),
/// and a sentence for the header.
struct placement {
  std::string taskset, why;
  std::vector<int32_t> cpus;
};

placement place_children(int32_t parallel) {
  placement p;
  p.cpus = allowed_cpus();
  if (parallel == 1) {
    p.why = "one run at a time, not pinned";
  } else if ((p.taskset = find_taskset()).empty()) {
    p.why = "not pinned (no taskset in PATH)";
  } else if (static_cast<int32_t>(p.cpus.size()) < parallel) {
    p.why = "not pinned (" + std::to_string(p.cpus.size()) + " CPUs for "
            + std::to_string(parallel) + " runs)";
  } else {
    p.why = "each pinned to " + std::to_string(p.cpus.size() / static_cast<size_t>(parallel))
            + " of " + std::to_string(p.cpus.size()) + " CPUs (taskset)";
    return p;
  }
  p.cpus.clear();
  return p;
}

/// The cell's outcome from its child's end and its metrics.jsonl.
cell_outcome outcome_of(const bench_settings& s, const staleness_cell& c,
                        const child_pool::result& r) {
  cell_outcome o;
  o.cell = c;
  o.child_wall = r.wall_s;
  o.exit_code = r.exit_code;
  if (r.how == child_pool::result::end::timed_out)
    o.how = cell_outcome::state::timed_out;
  else if (r.how == child_pool::result::end::not_started || r.exit_code != 0)
    o.how = cell_outcome::state::failed;
  o.error = r.error;
  auto path = cell_path(s, c, "/metrics.jsonl");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (o.how == cell_outcome::state::ok) {
      o.how = cell_outcome::state::failed;
      o.error = "no " + path;
    }
    return o;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto steps = parse_step_records(text, path);
  if (!steps) {
    o.how = cell_outcome::state::failed;
    o.error = describe(steps.error());
    return o;
  }
  o.figures = figures_of(*steps, s.target);
  return o;
}

void print_progress(size_t done, size_t total, const cell_outcome& o, const std::string& log) {
  const auto& f = o.figures;
  std::printf("[%zu/%zu] %s: ", done, total, cell_name(o.cell).c_str());
  if (o.how == cell_outcome::state::timed_out)
    std::printf("TIMED OUT after %.1f s", o.child_wall);
  else if (o.how == cell_outcome::state::failed)
    std::printf("FAILED (%s) after %.1f s",
                (o.error.empty() ? "exit " + std::to_string(o.exit_code) : o.error).c_str(),
                o.child_wall);
  else
    std::printf("%.1f s", o.child_wall);
  std::printf(", %lld steps", static_cast<long long>(f.steps));
  if (f.steps_to_target)
    std::printf(", target at step %lld (%.1f s)", static_cast<long long>(*f.steps_to_target),
                f.wall_to_target.value_or(0));
  std::printf(", final reward %.3f, staleness %.2f", f.final_reward, f.staleness);
  if (o.how != cell_outcome::state::ok)
    std::printf(" (log: %s)", log.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

/// Runs every cell as a child and answers their outcomes in cell order.
std::vector<cell_outcome> run_cells(const bench_settings& s,
                                    const std::vector<staleness_cell>& cells,
                                    const placement& p) {
  const auto tandem_path = self_executable_path();
  auto argv = [&](size_t job, int32_t slot) {
    const auto& c = cells[job];
    return child_argv(tandem_path, cell_path(s, c, ".yaml"), cell_path(s, c, ".log"),
                      slot_cpus(slot, s.parallel, p.cpus), p.taskset);
  };
  os_process_launcher launcher;
  child_pool pool(launcher, cells.size(), s.parallel, s.run_timeout, std::chrono::seconds{10},
                  argv);
  std::vector<cell_outcome> out(cells.size());
  size_t finished = 0;
  while (true) {
    for (auto& r : pool.poll(child_pool::clock::now())) {
      out[r.job] = outcome_of(s, cells[r.job], r);
      print_progress(++finished, cells.size(), out[r.job], cell_path(s, cells[r.job], ".log"));
    }
    if (pool.done())
      return out;
    // Every child has a deadline, so this loop ends; polling a few times a
    // second costs nothing next to runs of minutes.
    std::this_thread::sleep_for(std::chrono::milliseconds{250});
  }
}

std::string join_etas(const std::vector<int32_t>& etas) {
  std::string out;
  for (auto e : etas)
    out += (out.empty() ? "" : ",") + std::to_string(e);
  return out;
}

void print_header(const bench_settings& s, size_t cells, const placement& p) {
  std::printf("bench staleness: %s; target reward %g (10-step mean), at most %d steps per run; "
              "eta %s x objective decoupled/coupled x %d seed(s) = %zu runs, %d at a time, %s; "
              "%u hardware threads; run timeout %lld s; runs in %s\n",
              s.config.c_str(), s.target, s.steps, join_etas(s.etas).c_str(), s.seeds, cells,
              s.parallel, p.why.c_str(), std::thread::hardware_concurrency(),
              static_cast<long long>(s.run_timeout.count()), s.out_dir.c_str());
  std::fflush(stdout);
}

int report(const bench_settings& s, const placement& p, const std::vector<cell_outcome>& out) {
  auto rows = summarize_cells(out);
  auto claim = check_claim(rows);
  std::printf("\n%s", format_table(rows).c_str());
  if (claim)
    std::printf("%s", format_claim(*claim).c_str());
  else
    std::printf("claim check: needs at least two eta values\n");
  if (!s.json_path.empty()) {
    staleness_setup setup{s.config, s.out_dir, s.target, s.steps, s.seeds, s.parallel,
                          static_cast<int32_t>(std::thread::hardware_concurrency()), s.etas,
                          p.why, static_cast<double>(s.run_timeout.count())};
    if (auto err = write_json_file(s.json_path, report_json(setup, rows, out, claim))) {
      std::cerr << "bench staleness: --json: " << describe(err) << "\n";
      return 1;
    }
  }
  for (auto& o : out)
    if (o.how != cell_outcome::state::ok)
      return 1;
  return 0;
}

} // namespace

int bench_staleness_command(const std::vector<std::string>& a) {
  auto cl = staleness_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto s = settings_from(cl);
  if (!s) {
    std::cerr << "bench staleness: " << describe(s.error()) << "\n";
    return is(s.error(), errc::io_failure) ? 1 : 2;
  }
  auto dir = make_out_dir(cl);
  if (!dir) {
    std::cerr << "bench staleness: " << describe(dir.error()) << "\n";
    return 1;
  }
  s->out_dir = *dir;
  const auto cells = cell_order(s->etas, s->seeds);
  if (auto err = write_cell_configs(*s, cells)) {
    std::cerr << "bench staleness: " << describe(err) << "\n";
    return is(err, errc::invalid_config) ? 2 : 1;
  }
  const auto p = place_children(s->parallel);
  print_header(*s, cells.size(), p);
  return report(*s, p, run_cells(*s, cells, p));
}

} // namespace tandem
