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
/// Why these numbers: a 512 MiB bucket takes ~1.5 ms over NVLink. Pipelined
/// buckets (weight_transfer.hpp) keep the stream busy while the host sleeps,
/// but a late wake-up still delays when a bucket is seen done and the next
/// one is posted into the window; 50 us keeps that a few percent of a
/// bucket, and spinning (yield) for longer than 200 us burns a core for
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
