// learner_state.hpp: the byte format of learner_core::export_state(), torch-
// free: a versioned list of named tensors with a checksum. learner_core.cpp
// decides which tensors go in (see there); this file only writes and checks
// the bytes.
//
// Format, all integers little-endian:
//   header   char[8] "TNDMLRST" | u32 format_version (1) | u32 tensor count |
//            u64 total bytes (the whole blob, checksum included) |
//            i64 policy version
//   tensor   u32 name length | name (UTF-8) | u8 dtype (1 float32, 2 int64) |
//            u32 rank | i64 dims[rank] | data: row-major, little-endian
//            elements (product of dims; rank 0 = one element)
//   trailer  u64 fast_checksum64 (runtime/checksum.hpp) of every byte before it
//
// parse_learner_state() checks the header, the size and the checksum before
// reading any tensor, then bounds-checks every tensor: a truncated, corrupted
// or foreign blob is errc::malformed_message, never a crash. Whether the
// tensors fit a model is the caller's check.
//
// Thread safety: pure functions and a writer used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace tandem::internal {

enum class state_dtype : uint8_t { float32 = 1, int64 = 2 };

size_t element_size(state_dtype t);
const char* to_string(state_dtype t);

/// Bytes one tensor takes in a blob (name, dtype, shape and data).
size_t encoded_size(const std::string& name, state_dtype dtype, const std::vector<int64_t>& shape);

/// "[2, 3]"; "[]" for a scalar.
std::string shape_string(const std::vector<int64_t>& shape);

/// One tensor of a parsed blob; `data` points into the blob (unaligned).
struct state_tensor {
  std::string name;
  state_dtype dtype = state_dtype::float32;
  std::vector<int64_t> shape;
  const char* data = nullptr;
  size_t bytes = 0;
};

struct parsed_learner_state {
  int64_t policy_version = 0;
  std::vector<state_tensor> tensors; // in blob order
};

/// Builds a blob tensor by tensor; finish() seals it.
class learner_state_writer {
public:
  explicit learner_state_writer(int64_t policy_version);

  /// Room for `bytes` more bytes of tensors (encoded_size() each), so that
  /// a large state is not copied as it grows.
  void reserve(size_t bytes);

  /// Appends a tensor; `data` holds the elements in host order (this
  /// writer runs on little-endian hosts only), or null for all zeros.
  void add(const std::string& name, state_dtype dtype, const std::vector<int64_t>& shape,
           const void* data);

  /// The blob: count, size and checksum filled in. The writer is spent.
  std::vector<char> finish();

private:
  std::vector<char> out_;
  uint32_t count_ = 0;
};

/// The entropy control's state (models/entropy_control.hpp), carried as the
/// last tensor, "entropy_control": int64 [2], the bit patterns of the two
/// doubles, so that a resumed learner steers exactly as this one would.
struct entropy_control_state {
  double alpha = 0;
  double last_entropy = 0;
};
void write_entropy_control(double alpha, double last_entropy, learner_state_writer& w);

/// Takes the entropy_control tensor off the end of `tensors`: its state, or
/// nullopt when the blob has none (a learner without steering); a tensor of
/// that name with another dtype or shape is errc::malformed_message.
caf::expected<std::optional<entropy_control_state>>
take_entropy_control(std::vector<state_tensor>& tensors);

/// Checks magic, format version, size and checksum, then splits the tensors.
caf::expected<parsed_learner_state> parse_learner_state(const char* data, size_t size);

} // namespace tandem::internal
