// manual_clock.hpp: a clock_source that only moves when told to (the fake
// beside clock_source.hpp, after Seastar's manual_clock).
//
// pause(d) advances time by max(d, tick): a poll loop that waits for a
// deadline therefore ends after a bounded number of steps, never sleeps, and
// always ends at the same fake time.
//
// Thread safety: none; one test thread.
#pragma once

#include "runtime/nccl/clock_source.hpp"

namespace tandem::nccl {

class manual_clock final : public clock_source {
public:
  /// `tick`: the smallest step one pause() takes. 1 ms keeps a 30 s deadline
  /// at 30k poll steps, cheap for a test and finer than any budget we check.
  explicit manual_clock(duration tick = std::chrono::milliseconds(1))
    : tick_(tick) {}

  time_point now() const override { return now_; }

  void pause(duration d) override { now_ += d > tick_ ? d : tick_; }

  void advance(duration d) { now_ += d; }

  /// Time since construction (the clock starts at the epoch of time_point).
  duration elapsed() const { return now_.time_since_epoch(); }

private:
  duration tick_;
  time_point now_{};
};

} // namespace tandem::nccl
