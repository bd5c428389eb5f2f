// model_shapes.hpp: named model shapes for benchmarks and reference checks
// ("tiny", "qwen2-0.5b"), so that every bench builds the same network.
#pragma once

#include <optional>
#include <string>

#include "models/model_config.hpp"

namespace tandem {

/// "tiny": 2 layers x 64 wide, vocab 512 (seconds on a CPU).
/// "qwen2-0.5b": Qwen2-0.5B's shape (24 layers, hidden 896, 14/2 heads,
/// SwiGLU 4864, vocab 151936, q/k/v biases, tied embeddings, rope 1e6).
/// max_seq_len is left to the caller.
std::optional<model_config> named_shape(const std::string& name);

} // namespace tandem
