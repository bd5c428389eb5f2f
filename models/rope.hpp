// rope.hpp: the rotary inverse frequencies of a model_config, torch-free, so
// that the training forward (models/internal/transformer.cpp) and the device
// decoder (models/internal/fast_decoder.cpp) compute the same table.
//
// Default rotary: inv_freq[i] = 1 / theta^(2i / head_dim), in float32 as
// transformers computes it. rope_scaling type "llama3" then remaps each
// frequency as transformers' llama3 rope does (Llama 3.1 / 3.2): with
// wavelen = 2 pi / inv_freq, L = original_max_position_embeddings,
//   wavelen < L / high_freq_factor   keep inv_freq
//   wavelen > L / low_freq_factor    inv_freq / factor
//   between                          (1 - s) inv_freq / factor + s inv_freq,
//                                    s = (L / wavelen - low) / (high - low)
//
// Thread safety: stateless.
#pragma once

#include <vector>

#include <caf/error.hpp>

#include "models/model_config.hpp"

namespace tandem {

/// head_dim_of(cfg) / 2 inverse frequencies (float32, as the models use them).
std::vector<float> rope_inv_freq(const model_config& cfg);

/// Checks cfg.rope_scaling: type "" or "llama3"; for llama3 factor >= 1,
/// 0 < low_freq_factor < high_freq_factor, original_max_position_embeddings
/// > 0. Errors are errc::invalid_argument naming model_config.rope_scaling.
caf::error validate_rope_scaling(const rope_scaling_config& s);

} // namespace tandem
