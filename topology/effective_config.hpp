// effective_config.hpp: the config a run actually uses, as YAML — written to
// RUN_DIR/config.yaml when a run starts, and the only file a restarted head,
// `tandem resume` and the run's local workers read afterwards.
//
// It is the input file with the command line's overrides applied (--steps,
// --output, --target-reward) and every path made absolute (run.output_dir
// and cluster.security.secret_file against the working directory as the run
// reads them; model.hf_path, task.path and task.tokenizer against the
// config file's directory), so that the copy means the same thing from any
// directory, whatever happens to the original file later.
//
// Thread safety: pure function (reads the source file).
#pragma once

#include <optional>
#include <string>

#include <caf/expected.hpp>

#include "topology/run_loader.hpp"

namespace tandem {

caf::expected<std::string> effective_config_yaml(const std::string& source_path,
                                                 const run_overrides& overrides);

} // namespace tandem

namespace tandem {

/// The first field whose value differs between the effective config a
/// checkpoint was written under and the current one, among those that make
/// a checkpoint meaningless (model.*, task.*, run.seed, run.group_size,
/// run.groups_per_step, run.max_staleness), as "model.hidden_size: 64 in
/// the checkpoint, 32 now"; nothing when they agree.
std::optional<std::string> incompatible_field(const std::string& checkpoint_yaml,
                                              const std::string& current_yaml);

} // namespace tandem
