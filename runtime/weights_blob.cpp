#include "runtime/weights_blob.hpp"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"

namespace tandem {

uint64_t fnv1a64(const char* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<weights_chunk> split_weights(int64_t version,
                                         const std::vector<char>& blob,
                                         size_t chunk_bytes) {
  chunk_bytes = std::max<size_t>(chunk_bytes, 1);
  auto count = std::max<size_t>(1, (blob.size() + chunk_bytes - 1) / chunk_bytes);
  auto sum = fast_checksum64(blob.data(), blob.size());
  std::vector<weights_chunk> out(count);
  for (size_t i = 0; i < count; ++i) {
    auto& c = out[i];
    c.version = version;
    c.index = static_cast<uint32_t>(i);
    c.count = static_cast<uint32_t>(count);
    c.total_size = blob.size();
    c.checksum = sum;
    auto begin = std::min(blob.size(), i * chunk_bytes);
    auto end = std::min(blob.size(), begin + chunk_bytes);
    c.bytes.assign(blob.begin() + begin, blob.begin() + end);
  }
  return out;
}

void weights_assembler::recycle(std::vector<char> spare) {
  if (version_ < 0 && buffer_.empty())
    buffer_ = std::move(spare);
}

void weights_assembler::reset(const weights_chunk& c) {
  version_ = c.version;
  count_ = c.count;
  total_ = c.total_size;
  checksum_ = c.checksum;
  // No zero fill: chunks tile [0, total) and a version completes only when
  // every chunk arrived, so every byte is overwritten before it is handed out.
  if (buffer_.size() != total_)
    buffer_.resize(total_);
  seen_.assign(count_, false);
  received_ = 0;
  // Every chunk but the last has the same size: take it from this chunk, or,
  // if this is the last one, from what the others must add up to.
  if (count_ <= 1)
    offset_step_ = total_;
  else if (c.index + 1 < count_)
    offset_step_ = c.bytes.size();
  else
    offset_step_ = (total_ - std::min<uint64_t>(total_, c.bytes.size())) / (count_ - 1);
}

caf::expected<std::optional<weights_version>>
weights_assembler::add(const weights_chunk& c) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::malformed_message,
                      "weights chunk v" + std::to_string(c.version) + " #"
                        + std::to_string(c.index) + ": " + why);
  };
  if (c.count == 0 || c.index >= c.count)
    return bad("index out of range");
  if (c.total_size > max_total_bytes)
    return bad("total size too large");
  // Every chunk but an empty set's only one carries at least one byte; a
  // larger count would only size seen_ (up to 512 MiB for 2^32 chunks).
  if (c.count > std::max<uint64_t>(c.total_size, 1))
    return bad("more chunks than bytes");
  if (c.version <= last_complete_)
    return std::optional<weights_version>{}; // superseded: drop silently, counted by caller
  if (c.version < version_)
    return std::optional<weights_version>{};
  if (c.version > version_)
    reset(c);
  if (c.count != count_ || c.total_size != total_ || c.checksum != checksum_)
    return bad("header disagrees with earlier chunks of this version");
  if (count_ > 1 && c.index + 1 < count_ && c.bytes.size() != offset_step_)
    return bad("chunk size disagrees with earlier chunks");
  uint64_t offset = uint64_t{c.index} * offset_step_;
  if (offset + c.bytes.size() > total_)
    return bad("chunk overruns the weight set");
  if (c.index + 1 == count_ && offset + c.bytes.size() != total_)
    return bad("last chunk does not end the weight set");
  if (seen_[c.index])
    return std::optional<weights_version>{}; // duplicate delivery: idempotent
  // An empty weight set is one empty chunk: memcpy from its null data()
  // would be undefined even for 0 bytes (UBSan, docs/sanitizers.md).
  if (!c.bytes.empty())
    std::memcpy(buffer_.data() + offset, c.bytes.data(), c.bytes.size());
  seen_[c.index] = true;
  if (++received_ < count_)
    return std::optional<weights_version>{};
  if (fast_checksum64(buffer_.data(), buffer_.size()) != checksum_) {
    version_ = -1;
    return bad("checksum mismatch; version discarded");
  }
  last_complete_ = version_;
  version_ = -1;
  weights_version done{last_complete_, std::move(buffer_)};
  buffer_.clear();
  return std::optional<weights_version>{std::move(done)};
}

std::optional<weights_version> accept_chunk(weights_assembler& a, const weights_chunk& c,
                                            const std::string& who, uint64_t& bad) {
  auto got = a.add(c);
  if (!got) {
    ++bad;
    std::cerr << "[" << who << "] rejected " << describe(got.error()) << "\n";
    return std::nullopt;
  }
  return std::move(*got);
}

} // namespace tandem
