// poll.cpp: poll_until.
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl {

poll_state poll_until(clock_source& clock, time_point until,
                      const std::function<poll_state()>& probe,
                      poll_backoff backoff) {
  auto start = clock.now();
  for (;;) {
    auto state = probe();
    if (state != poll_state::pending)
      return state;
    auto now = clock.now();
    if (now >= until)
      return poll_state::pending;
    clock.pause(now - start < backoff.spin ? duration::zero() : backoff.step);
  }
}

} // namespace tandem::nccl
