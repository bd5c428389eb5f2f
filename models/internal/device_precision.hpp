// device_precision.hpp: where the learner computes (device string -> device)
// and how (float32, or bf16 autocast on CUDA), plus the one RAII guard that
// turns CUDA autocast on for a scope.
//
// autocast_guard follows torch.autocast: it saves the thread's autocast state,
// enables CUDA autocast to bfloat16, and restores the state on exit; the
// outermost guard of a thread clears the cast cache (the bf16 copies of the
// fp32 weights made during the scope) so that the next scope sees updated
// weights. Autocast state is thread-local: backward runs on the autograd
// engine's threads without it, which is what we want, except for the
// recomputation of a checkpointed layer, which re-enters a guard itself.
//
// LibTorch API: 2.4+ has per-device-type autocast functions; 1.13 has the
// CUDA-only set_enabled / set_autocast_gpu_dtype. Both compile here.
//
// Thread safety: the parsers are pure; a guard belongs to the thread that
// made it. Private to models/.
#pragma once

#include <string>

#include <caf/expected.hpp>

#include <torch/torch.h>

namespace tandem::internal {

enum class precision_mode { float32, bf16_autocast };

/// "cpu", "cuda" or "cuda:N". Refuses anything else, and CUDA devices on a
/// build without CUDA or a machine without that GPU. `field` names the
/// setting in errors (e.g. "learner.device").
caf::expected<torch::Device> parse_device(const std::string& name, const std::string& field);

/// "float32" or "bf16_autocast"; bf16_autocast needs a CUDA device.
caf::expected<precision_mode> parse_precision(const std::string& name,
                                              const torch::Device& device,
                                              const std::string& field);

class autocast_guard {
public:
  /// Does nothing when `enabled` is false.
  explicit autocast_guard(bool enabled);
  ~autocast_guard();
  autocast_guard(const autocast_guard&) = delete;
  autocast_guard& operator=(const autocast_guard&) = delete;

  /// Whether CUDA autocast is on in the calling thread.
  static bool active();

private:
  bool enabled_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kHalf;
};

/// Waits for the device's queued work (no-op on CPU), so that a caller's
/// clock measures finished work.
void synchronize(const torch::Device& device);

} // namespace tandem::internal
