// run_command.cpp: `tandem run CONFIG` and `tandem resume RUN_DIR` — both
// prepare the run directory (effective config, lock) and hand the run to
// the supervisor (app/supervisor.hpp), which starts the head and the local
// worker processes and restarts what dies. Everything they start comes from
// load_run()'s plan (the one `tandem plan` prints) of RUN_DIR/config.yaml.
#include <filesystem>
#include <iostream>

#include "app/commands.hpp"
#include "app/head_lifecycle.hpp"
#include "app/run_dir.hpp"
#include "app/supervisor.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/run_lock.hpp"
#include "topology/effective_config.hpp"
#include "topology/run_loader.hpp"
#include "wiring/components.hpp"
#include "wiring/head_link.hpp"

namespace tandem {

namespace {

bool print_issues(const std::vector<config_issue>& issues) {
  for (auto& i : issues)
    std::cerr << i.to_string() << "\n";
  return issues.empty();
}

/// Checks that need the data (secret, dataset vs max_seq_len), before
/// anything is created or started: 0 = fine, else the exit code.
int check_startable(const loaded_run& run) {
  // A configured secret must load now; without one the head generates
  // RUN_DIR/secret when it starts.
  if (auto secret = load_configured_secret(run.cluster); !secret) {
    std::cerr << run.config.source_path << ": " << describe(secret.error()) << "\n";
    return 2;
  }
  if (auto src = make_problem_source(run.config); !src) {
    std::cerr << describe(src.error()) << "\n";
    return is(src.error(), errc::invalid_config) ? 2 : 1;
  }
  return 0;
}

/// The run directory for a new run: created, locked, free of another run
/// (unless --overwrite), holding the effective config.
caf::expected<run_lock> claim_run_dir(const std::string& source, const run_overrides& o,
                                      const std::string& dir, bool overwrite) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(errc::io_failure, "cannot create " + dir + ": " + ec.message());
  auto lock = acquire_run_lock(dir);
  if (!lock)
    return lock.error();
  if (inspect_run_dir(dir) != run_dir_state::empty) {
    if (!overwrite)
      return make_error(errc::invalid_config,
                        dir + " holds another run: continue it with `tandem resume " + dir
                          + "`, choose another --output, or pass --overwrite to replace it");
    if (auto err = clear_run_dir(dir))
      return err;
  }
  auto yaml = effective_config_yaml(source, o);
  if (!yaml)
    return yaml.error();
  if (auto err = write_text_file(dir + "/config.yaml", *yaml))
    return err;
  return lock;
}

int exit_for(const caf::error& err) {
  std::cerr << describe(err) << "\n";
  return is(err, errc::invalid_config) ? 2 : 1;
}

} // namespace

int run_command(const args& a) {
  command_line cl("tandem run CONFIG [flags]", "train the run a YAML config describes "
                                                "(see configs/basic/run.yaml)");
  cl.positional("CONFIG", "the run file")
    .integer("--steps", "optimizer steps to train (overrides run.steps)", 0, 1, 100000000)
    .text("--output", "DIR", "run directory (overrides run.output_dir)")
    .number("--target-reward", "stop once the 10-step mean reward reaches it (0 = off)", 0, 0, 1)
    .integer("--max-head-restarts", "head restarts allowed (overrides run.max_head_restarts)",
             0, 0, 1000000)
    .toggle("--overwrite", "replace a run already in the run directory")
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
  if (cl.given("--max-head-restarts"))
    o.max_head_restarts = static_cast<int32_t>(cl.as_int("--max-head-restarts"));
  auto run = load_run(cl.positionals()[0], o);
  if (!print_issues(run.issues))
    return 2;
  if (auto code = check_startable(run))
    return code;
  auto dir = std::filesystem::absolute(run.config.run.output_dir).lexically_normal().string();
  auto lock = claim_run_dir(cl.positionals()[0], o, dir, cl.on("--overwrite"));
  if (!lock)
    return exit_for(lock.error());
  auto eff = load_run(dir + "/config.yaml");
  if (!print_issues(eff.issues))
    return 2;
  return supervise(eff, {false, cl.on("--quiet")});
}

int resume_command(const args& a) {
  command_line cl("tandem resume RUN_DIR [flags]",
                  "continue a run from its newest valid checkpoint, with the config saved "
                  "in RUN_DIR");
  cl.positional("RUN_DIR", "the run directory").toggle("--quiet", "no progress lines");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  auto dir = std::filesystem::absolute(cl.positionals()[0]).lexically_normal().string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir + "/config.yaml", ec)) {
    std::cerr << dir << " is not a tandem run directory (no config.yaml)\n";
    return 2;
  }
  std::string reason;
  if (inspect_run_dir(dir, &reason) == run_dir_state::finished) {
    std::cerr << dir << ": the run already finished (" << reason << "); nothing to resume\n";
    return 0;
  }
  auto lock = acquire_run_lock(dir);
  if (!lock)
    return exit_for(lock.error());
  auto run = load_run(dir + "/config.yaml");
  if (!print_issues(run.issues))
    return 2;
  if (auto code = check_startable(run))
    return code;
  return supervise(run, {true, cl.on("--quiet")});
}

} // namespace tandem
