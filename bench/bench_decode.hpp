// bench_decode.hpp: `tandem bench decode` — tokens/s of tandem's device
// sampler (batch_generator) against Hugging Face transformers' generate() on
// the same weights, the same prompts and the same GPU, in one run.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench decode [--shape NAME | --model DIR] [--batch 64] ... (--help lists all)
int bench_decode_command(const std::vector<std::string>& a);

} // namespace tandem
