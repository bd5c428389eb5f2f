// clock_source.hpp: the clock that collective deadlines are measured on, as
// an interface so tests can step time (manual_clock.hpp) instead of sleeping.
//
// A poll loop asks now(), and between polls calls pause(d): the real clock
// yields (d == 0) or sleeps; the manual clock advances its time instead, so a
// test that waits for a deadline finishes at once and deterministically.
//
// Thread safety: steady_clock_source is stateless and safe from any thread;
// implementations document their own.
#pragma once

#include <chrono>
#include <thread>

namespace tandem::nccl {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;
using duration = clock_type::duration;

class clock_source {
public:
  virtual ~clock_source() = default;

  virtual time_point now() const = 0;

  /// Lets time pass before the next poll; 0 means "yield, then poll again".
  virtual void pause(duration d) = 0;
};

/// The process's monotonic clock.
class steady_clock_source final : public clock_source {
public:
  time_point now() const override { return clock_type::now(); }

  void pause(duration d) override {
    if (d <= duration::zero())
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(d);
  }
};

} // namespace tandem::nccl
