// bench_control.hpp: `tandem bench control` (the control plane with simulated
// samplers and learner) and its hidden helper `tandem sim-worker` (the sim
// samplers of `--processes 1`, in a second OS process; sim_worker.cpp). The
// method is in bench_control.cpp.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench control [--samplers N] [--steps N] [--groups-per-step B]
///   [--group-size G] [--token-us US] [--tokens MIN..MAX] [--processes 0|1] ...
int bench_control_command(const std::vector<std::string>& a);

/// tandem sim-worker --head HOST:PORT --report HOST:PORT --samplers N ...
/// (started by bench control; not for direct use)
int sim_worker_command(const std::vector<std::string>& a);

} // namespace tandem
