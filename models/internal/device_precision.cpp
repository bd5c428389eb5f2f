// device_precision.cpp: see device_precision.hpp.

#include "models/internal/device_precision.hpp"

#include "models/device_name.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#ifdef TANDEM_WITH_CUDA
#include <torch/cuda.h>
#endif

#include "runtime/error.hpp"

// LibTorch 2.4 replaced the CUDA-only autocast setters by per-device ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TANDEM_AUTOCAST_PER_DEVICE 1
#endif

namespace tandem::internal {

namespace {

bool cuda_autocast_enabled() {
#ifdef TANDEM_AUTOCAST_PER_DEVICE
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

void set_cuda_autocast(bool on, at::ScalarType dtype) {
#ifdef TANDEM_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, on);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  at::autocast::set_enabled(on);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

at::ScalarType cuda_autocast_dtype() {
#ifdef TANDEM_AUTOCAST_PER_DEVICE
  return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  return at::autocast::get_autocast_gpu_dtype();
#endif
}

} // namespace

caf::expected<torch::Device> parse_device(const std::string& name, const std::string& field) {
  if (name == "cpu")
    return torch::Device(torch::kCPU);
  const auto cuda = cuda_index(name);
  const int index = cuda.value_or(0);
  if (!cuda)
    return make_error(errc::invalid_argument,
                      field + " '" + name + "': expected cpu, cuda or cuda:N");
#ifdef TANDEM_WITH_CUDA
  if (!torch::cuda::is_available())
    return make_error(errc::invalid_argument, field + " '" + name + "': no CUDA GPU is visible");
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (index >= count)
    return make_error(errc::invalid_argument, field + " '" + name + "': only "
                                                + std::to_string(count) + " GPU(s) visible");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
#else
  return make_error(errc::invalid_argument,
                    field + " '" + name + "': this build has no CUDA (configure with "
                    "-DTANDEM_WITH_CUDA=ON against a CUDA LibTorch)");
#endif
}

caf::expected<precision_mode> parse_precision(const std::string& name,
                                              const torch::Device& device,
                                              const std::string& field) {
  if (name == "float32")
    return precision_mode::float32;
  if (name != "bf16_autocast")
    return make_error(errc::invalid_argument,
                      field + " '" + name + "': expected float32 or bf16_autocast");
  // CPU autocast exists but is slow and numerically different; asking for it
  // by this name is more likely a mistake than a wish.
  if (!device.is_cuda())
    return make_error(errc::invalid_argument, field + " bf16_autocast needs a cuda device");
  return precision_mode::bf16_autocast;
}

autocast_guard::autocast_guard(bool enabled) : enabled_(enabled) {
  if (!enabled_)
    return;
  was_enabled_ = cuda_autocast_enabled();
  was_dtype_ = cuda_autocast_dtype();
  set_cuda_autocast(true, at::kBFloat16);
  at::autocast::increment_nesting();
}

autocast_guard::~autocast_guard() {
  if (!enabled_)
    return;
  if (at::autocast::decrement_nesting() == 0)
    at::autocast::clear_cache();
  set_cuda_autocast(was_enabled_, was_dtype_);
}

bool autocast_guard::active() { return cuda_autocast_enabled(); }

void synchronize(const torch::Device& device) {
#ifdef TANDEM_WITH_CUDA
  if (device.is_cuda())
    torch::cuda::synchronize(device.index());
#endif
}

} // namespace tandem::internal
