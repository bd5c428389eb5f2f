// sample_stats.hpp: the median and spread of repeated measurements, as every
// bench prints them ("median [min..max]"), so a reader can tell a difference
// from noise.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

namespace tandem {

struct spread {
  double median = 0, min = 0, max = 0;
  double q1 = 0, q3 = 0; // quartiles (linear interpolation between order statistics)
  size_t count = 0;
};

/// Median, extremes and quartiles of `xs`; all zero when it is empty.
spread summarize(std::vector<double> xs);

/// "1234.5 [1200.1..1250.0]" with `decimals` after the point.
std::string format_spread(const spread& s, int decimals);

} // namespace tandem
