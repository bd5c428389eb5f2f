// timing.hpp: the benches' clock and the two conversions they all use.
#pragma once

#include <chrono>

#include <caf/timespan.hpp>

namespace tandem {

using bench_clock = std::chrono::steady_clock;

/// Seconds since `t0` on the bench clock.
inline double since(bench_clock::time_point t0) {
  return std::chrono::duration<double>(bench_clock::now() - t0).count();
}

/// A deadline or period given in (fractional) seconds.
inline caf::timespan seconds(double s) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(s));
}

} // namespace tandem
