// flat_weights.hpp: one weight version as a single contiguous float32 buffer
// in export order (the same bytes as policy::export_weights, but on the
// model's device), for transports that move device memory (NCCL).
//
// Thread safety: a view; valid until the owner's next call that refreshes or
// frees it (see learner_core::flat_weights, batch_generator::receive_buffer).
#pragma once

#include <cstddef>

namespace tandem {

struct flat_weights {
  void* data = nullptr;
  size_t bytes = 0;
  int device = -1; // CUDA device index; -1 = host memory
};

} // namespace tandem
