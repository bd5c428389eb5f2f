// bench_weights.hpp: `tandem bench weights` — CPU cost of moving one weight
// version over the byte path (split into checksummed chunks, reassembly and
// verification), old and new variants side by side in one run.
#pragma once

#include "app/commands.hpp"

namespace tandem {

int bench_weights_command(const args& a);

} // namespace tandem
