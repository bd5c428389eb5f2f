// learner_core_memory.cpp: see learner_core_memory.hpp.
#include "models/learner_core_memory.hpp"

#include <torch/torch.h>

#ifdef TANDEM_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace tandem {

int cuda_device_count() {
#ifdef TANDEM_WITH_CUDA
  return static_cast<int>(torch::cuda::device_count());
#else
  return 0;
#endif
}

// Index 0 of the statistics arrays is the aggregate over pool kinds (its
// enum moved namespaces between LibTorch 1.13 and 2.x; the index did not).
int64_t cuda_peak_bytes(int device) {
#ifdef TANDEM_WITH_CUDA
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  return stats.allocated_bytes[0].peak;
#else
  (void) device;
  return 0;
#endif
}

void reset_cuda_peak(int device) {
#ifdef TANDEM_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(device);
#else
  (void) device;
#endif
}

} // namespace tandem
