// device_buffer.hpp: one cudaMalloc'd buffer, and a version-keyed byte
// pattern to fill it with and check it against. The GPU check
// (tests/gpu/nccl_broadcast_gpu_test.cpp) and `tandem bench broadcast` use
// them to prove that what they timed also arrived.
//
// The pattern is a function of the absolute byte offset and the version, so
// any range can be written or checked on its own; both go through a host
// staging chunk of 64 MiB (a few ms of PCIe per chunk, and a fixed host
// footprint whatever the buffer's size).
//
// Thread safety: one thread at a time per buffer. Every function runs on the
// CUDA device that was current when the buffer was made and returns only
// when its copies are complete.
#pragma once

#include <cstddef>
#include <cstdint>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/bucket_plan.hpp"

namespace tandem::nccl {

class device_buffer {
public:
  /// `bytes` of device memory on the current device; errc::backend_failure
  /// when cudaMalloc fails (the message says how much was asked for).
  static caf::expected<device_buffer> make(size_t bytes);

  device_buffer(device_buffer&& other) noexcept;
  device_buffer& operator=(device_buffer&& other) noexcept;
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer();

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  int device() const { return device_; }

private:
  device_buffer(void* ptr, size_t bytes, int device)
    : ptr_(ptr), bytes_(bytes), device_(device) {}

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

/// Writes version `version`'s pattern over the whole buffer.
caf::error fill_pattern(device_buffer& buf, int64_t version);

/// Zeroes the whole buffer (a receiver's "nothing arrived yet").
caf::error clear(device_buffer& buf);

/// Checks every segment of `plan` (tensor bytes; padding is not sent) in
/// `buf`, laid out flat, against version `version`'s pattern.
/// errc::malformed_message naming the first tensor and flat offset that
/// differ; errc::invalid_argument if `buf` is smaller than plan.flat_bytes.
caf::error check_pattern(const bucket_plan& plan, const device_buffer& buf,
                         int64_t version);

} // namespace tandem::nccl
