// bench_decode.hpp: `tandem bench decode` — tokens/s of tandem's device
// sampler (batch_generator) against Hugging Face transformers' generate() on
// the same weights, the same prompts and the same GPU, in one run.
#pragma once

#include "app/commands.hpp"

namespace tandem {

int bench_decode_command(const args& a);

} // namespace tandem
