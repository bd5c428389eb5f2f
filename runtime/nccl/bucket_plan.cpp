// bucket_plan.cpp: greedy, order-keeping bucket packing.
#include "runtime/nccl/bucket_plan.hpp"

#include <string>

#include "runtime/error.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem::nccl {

namespace {

size_t align_up(size_t n, size_t alignment) {
  return (n + alignment - 1) & ~(alignment - 1);
}

class packer {
public:
  explicit packer(bucket_plan& plan) : plan_(plan) {}

  void add(size_t tensor, size_t bytes) {
    const auto limit = plan_.options.bucket_bytes;
    for (size_t offset = 0; offset < bytes;) {
      size_t chunk = bytes - offset < limit ? bytes - offset : limit;
      place(segment{tensor, offset, chunk, 0});
      offset += chunk;
    }
  }

  void finish() { close(); }

private:
  void place(segment s) {
    size_t at = current_.segments.empty()
                  ? 0
                  : align_up(current_.bytes, plan_.options.alignment);
    if (!current_.segments.empty() && at + s.bytes > plan_.options.bucket_bytes) {
      close();
      at = 0;
    }
    s.bucket_offset = at;
    current_.segments.push_back(s);
    current_.payload += s.bytes;
    current_.bytes = at + s.bytes;
  }

  void close() {
    if (current_.segments.empty())
      return;
    current_.flat_offset = plan_.flat_bytes;
    // The next bucket starts aligned in the flat layout too.
    plan_.flat_bytes = align_up(plan_.flat_bytes + current_.bytes,
                                plan_.options.alignment);
    plan_.total_bytes += current_.payload;
    plan_.buckets.push_back(std::move(current_));
    current_ = bucket{};
  }

  bucket_plan& plan_;
  bucket current_;
};

uint64_t digest(const bucket_plan& plan) {
  std::vector<uint64_t> words{plan.options.bucket_bytes, plan.options.alignment,
                              plan.tensor_bytes.size()};
  for (auto& b : plan.buckets) {
    words.push_back(b.bytes);
    for (auto& s : b.segments) {
      words.insert(words.end(), {s.tensor, s.tensor_offset, s.bytes,
                                 s.bucket_offset});
    }
  }
  return fnv1a64(reinterpret_cast<const char*>(words.data()),
                 words.size() * sizeof(uint64_t));
}

} // namespace

caf::expected<bucket_plan> plan_buckets(const std::vector<size_t>& tensor_bytes,
                                        bucket_options options) {
  auto a = options.alignment;
  if (a == 0 || (a & (a - 1)) != 0)
    return make_error(errc::invalid_argument,
                      "bucket alignment must be a power of two, got "
                        + std::to_string(a));
  if (options.bucket_bytes == 0 || options.bucket_bytes % a != 0)
    return make_error(errc::invalid_argument,
                      "bucket_bytes must be a positive multiple of the alignment ("
                        + std::to_string(a) + "), got "
                        + std::to_string(options.bucket_bytes));
  bucket_plan plan;
  plan.options = options;
  plan.tensor_bytes = tensor_bytes;
  packer p{plan};
  for (size_t t = 0; t < tensor_bytes.size(); ++t)
    p.add(t, tensor_bytes[t]);
  p.finish();
  plan.layout_digest = digest(plan);
  return plan;
}

size_t flat_offset_of(const bucket_plan& plan, size_t t) {
  for (auto& b : plan.buckets)
    for (auto& s : b.segments)
      if (s.tensor == t)
        return b.flat_offset + s.bucket_offset;
  return SIZE_MAX;
}

} // namespace tandem::nccl
