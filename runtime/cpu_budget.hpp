// cpu_budget.hpp: keeping each actor inside its own thread budget on CPU.
//
// Every LibTorch actor (sampler, learner) owns one OS thread and a configured
// number of intra-op threads. Two process-wide pools would break that:
// OpenBLAS's pthread pool is shared by all callers and serialises concurrent
// calls (a sampler's and the learner's matmuls then take turns instead of
// overlapping), and CAF's scheduler workers poll for work before sleeping,
// taking CPU from the detached compute threads.
//
// Thread safety: call once at start-up, before any actor runs.
#pragma once

#include <caf/actor_system_config.hpp>

namespace tandem {

/// Makes OpenBLAS (when it is the BLAS in use) run in its caller's thread.
/// Returns false if no OpenBLAS is loaded (nothing to do).
bool pin_blas_to_caller_threads();

/// Scheduler settings for a control plane that is mostly idle: workers go to
/// sleep after a few polls instead of spinning for milliseconds.
void configure_quiet_scheduler(caf::actor_system_config& cfg);

} // namespace tandem
