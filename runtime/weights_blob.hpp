// weights_blob.hpp: splitting a weight set into checksummed chunks and
// reassembling it on the receiving side.
//
// Invariant: weights_assembler hands out a version only when every chunk of it
// arrived, sizes agree and the checksum of the whole (fast_checksum64,
// runtime/checksum.hpp) matches; a sampler
// therefore never runs with a half-received version. Chunks of a version
// older than the one being assembled are dropped (a newer version supersedes
// them); a chunk of a newer version restarts assembly.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "runtime/messages.hpp"

namespace tandem {

/// FNV-1a 64-bit hash of `size` bytes (checkpoint files, small digests).
uint64_t fnv1a64(const char* data, size_t size);

/// Default chunk size: 1 MiB keeps one CAF message well below the middleman's
/// buffers while amortising per-message overhead (≈450 msg/s of 1 MiB here).
constexpr size_t default_chunk_bytes = size_t{1} << 20;

/// Splits `blob` into ceil(size / chunk_bytes) chunks (at least one).
std::vector<weights_chunk> split_weights(int64_t version,
                                         const std::vector<char>& blob,
                                         size_t chunk_bytes = default_chunk_bytes);

/// A complete, verified weight set.
struct weights_version {
  int64_t version = -1;
  std::vector<char> bytes;
};

class weights_assembler {
public:
  /// Upper bound on accepted weight sets; protects against a malformed header
  /// asking for an absurd allocation (4 GiB ≈ a 1B-parameter float32 model).
  static constexpr uint64_t max_total_bytes = uint64_t{4} << 30;

  /// Adds a chunk. Returns a complete version when this chunk finished one,
  /// std::nullopt while incomplete, or an error (errc::malformed_message) for
  /// an inconsistent chunk, which is dropped without harming assembly.
  caf::expected<std::optional<weights_version>> add(const weights_chunk& c);

  /// Version currently being assembled (-1 if none).
  int64_t pending_version() const { return version_; }

  /// Hands back the bytes of a version the caller has installed, to be
  /// reused as the next assembly buffer: a weight set of 100 MB then costs
  /// no fresh page faults per version. Ignored while an assembly is running.
  void recycle(std::vector<char> spare);

private:
  void reset(const weights_chunk& c);
  int64_t version_ = -1;
  int64_t last_complete_ = -1;
  uint32_t count_ = 0;
  uint64_t total_ = 0;
  uint64_t checksum_ = 0;
  std::vector<char> buffer_;
  std::vector<bool> seen_;
  uint32_t received_ = 0;
  uint64_t offset_step_ = 0; // bytes per chunk (all but the last)
};

/// Feeds `c` to `a` on behalf of a receiver named `who`: returns the version
/// it completed, if any. A rejected chunk is logged and counted in `bad` (the
/// receiver keeps its current weights and keeps running).
std::optional<weights_version> accept_chunk(weights_assembler& a, const weights_chunk& c,
                                            const std::string& who, uint64_t& bad);

} // namespace tandem
