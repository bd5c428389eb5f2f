// learner_core_memory.hpp: memory figures for the learner benches, behind a
// torch-free interface: the state bytes per parameter a rank keeps by
// docs/data-parallel.md's memory table, how many CUDA devices LibTorch sees
// and the peak of its caching allocator on one of them.
//
// Thread safety: the allocator's statistics are per device and thread-safe in
// LibTorch; a reset races with a concurrent reader of the same device only.
#pragma once

#include <cstdint>

namespace tandem {

/// Float32 bytes per parameter a learner rank keeps between steps, before
/// activations (docs/data-parallel.md, "Memory per rank"): weights 4, .grad
/// 4 (with ranks > 1, views into the flat gradient buffer), AdamW moments 8,
/// or with ZeRO (stages 1 and 2 alike) 8/N of moments and 4/N of the
/// update's weight shard. learner_core::training_state_bytes() measures it
/// (learner_dp_test holds the two within 1 %).
inline double state_bytes_per_param(int ranks, int zero_stage) {
  if (ranks <= 1 || zero_stage == 0)
    return 16;
  return 8 + 12.0 / ranks;
}

/// CUDA devices visible to LibTorch; 0 in a build without CUDA.
int cuda_device_count();

/// Peak bytes allocated by LibTorch on CUDA device `device` since the last
/// reset_cuda_peak(device); 0 without CUDA.
int64_t cuda_peak_bytes(int device);

void reset_cuda_peak(int device);

} // namespace tandem
