// staleness_cells.hpp: the runs of `tandem bench staleness`
// (bench_staleness.hpp): one cell per (eta, objective, seed), the order they
// run in, the config each one trains on and the command line of its child.
//
// A cell's config is the run file's effective config (topology/
// effective_config.hpp: overrides applied, paths absolute) with
//   run.max_staleness = eta          learner.decoupled = on/off
//   run.seed = seed                  task.seed = 1000 + seed
// and, for the coupled objective, learner.behav_weight_cap removed (it has
// no effect there, which the config checks refuse).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace tandem {

struct staleness_cell {
  int32_t eta = 0;
  bool decoupled = true;
  uint64_t seed = 1;
};

/// "eta4-decoupled-seed2": the cell's run directory, config and log name.
std::string cell_name(const staleness_cell& c);

/// Every cell of `etas` x {decoupled, coupled} x seeds 1..`seeds`, seed by
/// seed; within a seed every mode (eta, objective) once, in reverse order for
/// every second seed. Interleaving puts the modes of one seed close in time,
/// so a change of the machine's load moves all of them, and a steady drift
/// favours no mode.
std::vector<staleness_cell> cell_order(const std::vector<int32_t>& etas, int32_t seeds);

/// "0,1,2,4,8" -> {0, 1, 2, 4, 8}, sorted: decimal integers in [0, 64]
/// (run.max_staleness's range), at least one, no empty item, no repeat.
caf::expected<std::vector<int32_t>> parse_eta_list(const std::string& text);

/// `effective_yaml` (a YAML mapping) rewritten for `c` as the file comment
/// says, with a comment line naming the cell; invalid_config when it is not
/// a mapping.
caf::expected<std::string> cell_config_yaml(const std::string& effective_yaml,
                                            const staleness_cell& c);

/// The child's command line: `tandem run CONFIG --quiet --overwrite` with
/// stdout and stderr written to `log_path` (through /bin/sh, which execs it,
/// so the child's pid is tandem's) and, when `cpus` is not empty, pinned to
/// those CPUs with `taskset_path` ("0-3" is taskset's list syntax).
std::vector<std::string> child_argv(const std::string& tandem_path, const std::string& config,
                                    const std::string& log_path, const std::string& cpus,
                                    const std::string& taskset_path);

/// The CPUs of slot `slot` of `parallel`, as taskset's list ("4,5,6,7"):
/// `cpus` (those this process may use) split into `parallel` equal
/// contiguous shares, the remainder unused; empty when there are fewer CPUs
/// than slots (no pinning).
std::string slot_cpus(int32_t slot, int32_t parallel, const std::vector<int32_t>& cpus);

} // namespace tandem
