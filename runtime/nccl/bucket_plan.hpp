// bucket_plan.hpp: how a weight set (a list of tensors' byte sizes) is cut
// into broadcast buckets of at most bucket_bytes each.
//
// Packing is greedy and keeps tensor order: a tensor goes into the current
// bucket at the next `alignment` boundary if it fits; otherwise the bucket is
// closed. A tensor larger than bucket_bytes is split into chunks of exactly
// bucket_bytes (a multiple of alignment, so chunk starts stay aligned) plus a
// remainder that opens a new bucket. Zero-byte tensors get no segment.
//
// Every bucket also has a packed extent (segments at their bucket_offset,
// padding between them), and buckets lie back to back at flat_offset in a
// "flat" layout of flat_bytes. A caller whose weights live in one buffer laid
// out that way broadcasts each bucket as one span (packed_memory in
// weight_transfer.hpp); otherwise each segment is its own span.
//
// Invariants: every bucket's extent <= bucket_bytes; segments cover every
// byte of every tensor exactly once, in order; layout_digest is a function
// of the inputs only, so both sides of a broadcast can compare plans.
// Thread safety: plain values and a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/version_header.hpp"

namespace tandem::nccl {

struct bucket_options {
  /// 512 MiB. With pipelined buckets (weight_transfer.hpp) the host's cost
  /// per bucket is hidden; what remains is NCCL's cost per operation on the
  /// GPU (kernel start, pipeline fill and drain). On 2 H200s over NVLink
  /// five back-to-back ops of 214 MB ran at 296 GB/s against 360 GB/s for one
  /// 1 GiB op: ~0.13 ms per op. Keeping that under 10% of a bucket's wire
  /// time at ~360 GB/s needs buckets of >= ~470 MB, hence 512 MiB (~0.9 of
  /// one op's bandwidth; 1 GiB would add only ~0.05 more). Larger buckets
  /// buy little and cost more: a longer per-bucket deadline (+0.54 s per
  /// 512 MiB at the slowest accepted link), coarser failure attribution and
  /// more spare memory for a receiver that stages a bucket at a time.
  /// `tandem bench broadcast --bucket-mb N` measures the trade on a machine.
  size_t bucket_bytes = size_t{512} << 20;
  /// 256 bytes: NCCL and CUDA copies run at full speed from 256-byte aligned
  /// addresses; any dtype's element size divides it.
  size_t alignment = 256;
};

struct segment {
  size_t tensor = 0;        // index into the planned list
  size_t tensor_offset = 0; // first byte of this chunk within the tensor
  size_t bytes = 0;
  size_t bucket_offset = 0; // where it sits in the bucket's packed extent
};

struct bucket {
  std::vector<segment> segments;
  size_t payload = 0;     // sum of segment bytes
  size_t bytes = 0;       // packed extent: last segment's end
  size_t flat_offset = 0; // where the bucket starts in the flat layout
};

struct bucket_plan {
  bucket_options options;
  std::vector<size_t> tensor_bytes; // the input
  std::vector<bucket> buckets;
  size_t total_bytes = 0; // payload of all buckets = sum of tensor_bytes
  size_t flat_bytes = 0;  // sum of bucket extents
  uint64_t layout_digest = 0;
};

/// Plans buckets for `tensor_bytes`. errc::invalid_argument when alignment
/// is not a power of two, or bucket_bytes is 0 or not a multiple of it.
caf::expected<bucket_plan> plan_buckets(const std::vector<size_t>& tensor_bytes,
                                        bucket_options options = {});

/// Where tensor `t` starts in the flat layout (its first segment), or
/// SIZE_MAX for a zero-byte tensor.
size_t flat_offset_of(const bucket_plan& plan, size_t t);

/// Bytes of the flat layout that buckets actually touch: the end of the last
/// bucket (flat_bytes also counts the alignment padding after it).
inline size_t packed_extent(const bucket_plan& plan) {
  return plan.buckets.empty() ? 0 : plan.buckets.back().flat_offset + plan.buckets.back().bytes;
}

/// The header that announces `version` on communicator `epoch`, laid out as
/// `plan` (runtime/version_header.hpp).
inline version_header make_header(int64_t version, uint64_t epoch,
                                  const bucket_plan& plan) {
  return {version, epoch, plan.total_bytes,
          static_cast<uint32_t>(plan.buckets.size()), plan.layout_digest};
}

} // namespace tandem::nccl
