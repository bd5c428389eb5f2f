// device_buffer.cpp: device memory and the version pattern (see the header).
#include "runtime/nccl/device_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include "runtime/error.hpp"
#include "runtime/nccl/internal/cuda_errors.hpp"

namespace tandem::nccl {

namespace {

using internal::cuda_error;

constexpr size_t staging_bytes = size_t{64} << 20;

/// Pattern bytes [offset, offset + out.size()) of `version`: byte x is byte
/// x % 4 of the 32-bit word x / 4, a multiplicative hash of the word index.
/// Whole words are written four bytes at a time (gigabytes pass through
/// here; a byte loop would take seconds per GiB).
void pattern_bytes(size_t offset, int64_t version, std::vector<uint8_t>& out) {
  const auto key = static_cast<uint32_t>(version * 0x9E3779B9u);
  auto word = [&](size_t w) { return static_cast<uint32_t>(w * 2654435761u) ^ key; };
  size_t i = 0;
  auto bytewise = [&](size_t end) {
    for (; i < end; ++i) {
      size_t x = offset + i;
      uint32_t v = word(x / 4);
      out[i] = reinterpret_cast<const uint8_t*>(&v)[x % 4];
    }
  };
  bytewise(std::min(out.size(), (4 - offset % 4) % 4));
  for (; i + 4 <= out.size(); i += 4) {
    uint32_t v = word((offset + i) / 4);
    std::memcpy(out.data() + i, &v, 4);
  }
  bytewise(out.size());
}

caf::error select(const device_buffer& buf) {
  if (auto e = cudaSetDevice(buf.device()); e != cudaSuccess)
    return cuda_error(e, "cudaSetDevice(" + std::to_string(buf.device()) + ")");
  return {};
}

} // namespace

caf::expected<device_buffer> device_buffer::make(size_t bytes) {
  int device = 0;
  if (auto e = cudaGetDevice(&device); e != cudaSuccess)
    return cuda_error(e, "cudaGetDevice");
  void* ptr = nullptr;
  if (auto e = cudaMalloc(&ptr, bytes); e != cudaSuccess)
    return cuda_error(e, "cudaMalloc(" + std::to_string(bytes) + " bytes) on GPU "
                           + std::to_string(device));
  return device_buffer{ptr, bytes, device};
}

device_buffer::device_buffer(device_buffer&& other) noexcept
  : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(other.bytes_), device_(other.device_) {}

device_buffer& device_buffer::operator=(device_buffer&& other) noexcept {
  std::swap(ptr_, other.ptr_);
  std::swap(bytes_, other.bytes_);
  std::swap(device_, other.device_);
  return *this;
}

device_buffer::~device_buffer() {
  if (ptr_ == nullptr)
    return;
  cudaSetDevice(device_);
  cudaFree(ptr_);
}

caf::error fill_pattern(device_buffer& buf, int64_t version) {
  if (auto err = select(buf))
    return err;
  std::vector<uint8_t> host;
  auto* base = static_cast<char*>(buf.data());
  for (size_t at = 0; at < buf.size(); at += staging_bytes) {
    host.resize(std::min(staging_bytes, buf.size() - at));
    pattern_bytes(at, version, host);
    if (auto e = cudaMemcpy(base + at, host.data(), host.size(), cudaMemcpyHostToDevice);
        e != cudaSuccess)
      return cuda_error(e, "fill_pattern: cudaMemcpy");
  }
  return {};
}

caf::error clear(device_buffer& buf) {
  if (auto err = select(buf))
    return err;
  if (auto e = cudaMemset(buf.data(), 0, buf.size()); e != cudaSuccess)
    return cuda_error(e, "clear: cudaMemset");
  if (auto e = cudaDeviceSynchronize(); e != cudaSuccess)
    return cuda_error(e, "clear: cudaDeviceSynchronize");
  return {};
}

caf::error check_pattern(const bucket_plan& plan, const device_buffer& buf,
                         int64_t version) {
  if (buf.size() < plan.flat_bytes)
    return make_error(errc::invalid_argument,
                      "check_pattern: buffer of " + std::to_string(buf.size())
                        + " bytes, plan needs " + std::to_string(plan.flat_bytes));
  if (auto err = select(buf))
    return err;
  std::vector<uint8_t> want, got;
  auto* base = static_cast<const char*>(buf.data());
  for (auto& b : plan.buckets)
    for (auto& s : b.segments)
      for (size_t done = 0; done < s.bytes;) {
        size_t at = b.flat_offset + s.bucket_offset + done;
        size_t n = std::min(staging_bytes, s.bytes - done);
        want.resize(n);
        got.resize(n);
        pattern_bytes(at, version, want);
        if (auto e = cudaMemcpy(got.data(), base + at, n, cudaMemcpyDeviceToHost);
            e != cudaSuccess)
          return cuda_error(e, "check_pattern: cudaMemcpy");
        if (want != got) {
          auto first = std::mismatch(want.begin(), want.end(), got.begin()).first - want.begin();
          return make_error(errc::malformed_message,
                            "tensor " + std::to_string(s.tensor) + " differs from version "
                              + std::to_string(version) + " at flat offset "
                              + std::to_string(at + first));
        }
        done += n;
      }
  return {};
}

} // namespace tandem::nccl
