// raw_broadcast.cpp: the raw NCCL yardstick (see the header).
#include "runtime/nccl/raw_broadcast.hpp"

#include <string>

#include "runtime/error.hpp"
#include "runtime/nccl/device_buffer.hpp"
#include "runtime/nccl/internal/cuda_errors.hpp"
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl {

namespace {

using internal::nccl_error;

/// The error, after aborting the collective (nothing may stay in flight).
caf::error failed(nccl_collective& c, caf::error err) {
  c.abort();
  return err;
}

/// Waits for an NCCL call on a non-blocking communicator to leave
/// ncclInProgress (its launch); NCCL must not be called again before.
caf::error launched(nccl_collective& c, ncclResult_t r, time_point until,
                    const std::string& what) {
  steady_clock_source clock;
  ncclResult_t st = r;
  auto state = poll_until(clock, until, [&] {
    if (st == ncclInProgress)
      ncclCommGetAsyncError(c.native_comm(), &st);
    return st == ncclInProgress ? poll_state::pending : poll_state::done;
  });
  if (state != poll_state::done)
    return failed(c, make_error(errc::collective_timeout, what + " launch missed its deadline"));
  if (st != ncclSuccess)
    return failed(c, nccl_error(st, c.native_comm(), what));
  return {};
}

/// Waits until the collective's stream is empty, watching the communicator.
caf::error stream_empty(nccl_collective& c, time_point until, const std::string& what) {
  steady_clock_source clock;
  caf::error seen;
  auto state = poll_until(clock, until, [&] {
    return internal::probe_work(cudaStreamQuery(c.stream()), c.native_comm(), what, seen);
  });
  if (state == poll_state::failed)
    return failed(c, seen);
  if (state != poll_state::done)
    return failed(c, make_error(errc::collective_timeout, what + " missed its deadline"));
  return {};
}

} // namespace

caf::error barrier(nccl_collective& c, time_point until) {
  if (!c.ready())
    return make_error(errc::not_ready, "barrier: no communicator");
  auto one = device_buffer::make(sizeof(float));
  if (!one)
    return failed(c, one.error());
  auto r = ncclAllReduce(one->data(), one->data(), 1, ncclFloat, ncclSum, c.native_comm(),
                         c.stream());
  if (auto err = launched(c, r, until, "barrier"))
    return err;
  return stream_empty(c, until, "barrier");
}

caf::expected<duration> raw_broadcast(nccl_collective& c, void* buf, size_t bytes,
                                      size_t ops, int iterations, time_point until) {
  if (ops == 0 || iterations < 1)
    return make_error(errc::invalid_argument,
                      "raw_broadcast: " + std::to_string(ops) + " ops x "
                        + std::to_string(iterations) + " iterations");
  if (auto err = barrier(c, until))
    return err;
  steady_clock_source clock;
  auto start = clock.now();
  auto* base = static_cast<char*>(buf);
  size_t per = bytes / ops;
  for (int it = 0; it < iterations; ++it)
    for (size_t k = 0; k < ops; ++k) {
      size_t n = k + 1 == ops ? bytes - k * per : per;
      auto r = ncclBroadcast(base + k * per, base + k * per, n, ncclUint8, 0,
                             c.native_comm(), c.stream());
      if (auto err = launched(c, r, until, "raw ncclBroadcast"))
        return err;
    }
  if (auto err = stream_empty(c, until, "raw ncclBroadcast"))
    return err;
  return clock.now() - start;
}

double bytes_per_s(size_t bytes, int times, duration d) {
  return static_cast<double>(bytes) * times / std::chrono::duration<double>(d).count();
}

} // namespace tandem::nccl
