// bench_weights.hpp: `tandem bench weights` — CPU cost of moving one weight
// version over the byte path (split into checksummed chunks, reassembly and
// verification), old and new variants side by side in one run.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench weights [--mb 100] [--repeats 5]
int bench_weights_command(const std::vector<std::string>& a);

} // namespace tandem
