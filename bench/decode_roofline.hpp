// decode_roofline.hpp: the memory traffic a decode step cannot avoid, and the
// HBM bandwidth of known cards, for `tandem bench decode`'s roofline line.
//
// A decode step reads every weight once and the keys and values of every
// context token of every row; nothing smaller can produce the next token.
// Achieved bandwidth = those bytes / the step's time; the fraction of the
// card's HBM bandwidth says how close the step is to the memory roofline.
//
// Thread safety: pure functions. Torch-free.
#pragma once

#include <cstdint>
#include <string>

#include "models/model_config.hpp"

namespace tandem {

struct step_bytes {
  double weights = 0; // every parameter once
  double kv = 0;      // keys and values of the context, all layers and rows
  double total() const { return weights + kv; }
};

/// Bytes one decode step must read for a model of `params` parameters
/// stored with `elem` bytes per element, `rows` sequences and `context`
/// tokens per row (a mean step: prompt + new_tokens / 2).
step_bytes decode_step_bytes(const model_config& c, int64_t params, double elem, int64_t rows,
                             double context);

/// HBM bandwidth in GB/s (1e9 bytes) of a card by its CUDA device name
/// ("NVIDIA H100 80GB HBM3"); 0 when the name is not in the table.
double hbm_gbs_of(const std::string& device_name);

} // namespace tandem
