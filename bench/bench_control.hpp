// bench_control.hpp: `tandem bench control` (the control plane with simulated
// samplers and learner) and its hidden helper `tandem sim-worker` (the sim
// samplers of `--processes 1`, in a second OS process). See bench_control.cpp.
#pragma once

#include "app/commands.hpp"

namespace tandem {

/// tandem bench control [--samplers N] [--steps N] [--groups-per-step B]
///   [--group-size G] [--token-us US] [--tokens MIN..MAX] [--processes 0|1] ...
int bench_control_command(const args& a);

/// tandem sim-worker --head HOST:PORT --report HOST:PORT --samplers N ...
/// (started by bench control; not for direct use)
int sim_worker_command(const args& a);

} // namespace tandem
