// poll.hpp: the one wait loop behind every collective deadline.
//
// NCCL's non-blocking communicators never block; instead the caller probes
// (ncclCommGetAsyncError, cudaEventQuery) until the operation is done, failed,
// or the deadline passed. Both nccl_collective and fake_collective wait
// through poll_until, so the tests exercise the same deadline logic the GPU
// code runs.
//
// Thread safety: stateless; the probe and the clock decide.
#pragma once

#include <functional>

#include "runtime/nccl/clock_source.hpp"

namespace tandem::nccl {

enum class poll_state {
  pending, // still running (NCCL: ncclInProgress / cudaErrorNotReady)
  done,    // finished successfully
  failed,  // finished with an error the probe recorded
};

/// Backoff between probes: yield for the first `spin`, then pause `step`.
/// Why these numbers: a 256 MiB bucket takes ~1 ms over NVLink, so a wait
/// that sleeps much longer than 50 us would cost several percent of
/// bandwidth, and spinning (yield) for longer than 200 us burns a core for
/// nothing on slow links.
struct poll_backoff {
  duration spin = std::chrono::microseconds(200);
  duration step = std::chrono::microseconds(50);
};

/// Calls `probe` until it returns done or failed, or `until` has passed.
/// The probe runs at least once, even when `until` is already over. Returns
/// pending when the deadline ended the wait.
poll_state poll_until(clock_source& clock, time_point until,
                      const std::function<poll_state()>& probe,
                      poll_backoff backoff = {});

} // namespace tandem::nccl
