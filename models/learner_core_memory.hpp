// learner_core_memory.hpp: device memory figures for the learner benches,
// behind a torch-free interface: how many CUDA devices LibTorch sees and the
// peak of its caching allocator on one of them.
//
// Thread safety: the allocator's statistics are per device and thread-safe in
// LibTorch; a reset races with a concurrent reader of the same device only.
#pragma once

#include <cstdint>

namespace tandem {

/// CUDA devices visible to LibTorch; 0 in a build without CUDA.
int cuda_device_count();

/// Peak bytes allocated by LibTorch on CUDA device `device` since the last
/// reset_cuda_peak(device); 0 without CUDA.
int64_t cuda_peak_bytes(int device);

void reset_cuda_peak(int device);

} // namespace tandem
