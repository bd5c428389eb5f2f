// safetensors.hpp: reader and writer of the safetensors tensor file format,
// with no LibTorch dependency.
//
// Format: u64 little-endian N | N bytes of JSON header | data section. The
// header maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end]} (byte offsets into the data section) and may hold a "__metadata__"
// object of string values. Tensors are row-major, little-endian.
//
// Invariants checked by read_safetensors_header, as the reference
// implementation does: N bounded and inside the file; the header is a JSON
// object with no key twice; every dtype known; shape product x dtype size == end - begin
// (without overflow); the tensors, sorted by offset, tile the data section
// exactly (no overlap, no gap, no trailing bytes). Errors are
// errc::malformed_message (io_failure for the filesystem) and name the file
// and, where there is one, the tensor; JSON errors give "PATH (header):1:COL".
//
// Thread safety: stateless functions; a safetensors_header is a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem {

class file_system;

enum class st_dtype : uint8_t {
  boolean, u8, i8, f8_e4m3, f8_e5m2, i16, u16, f16, bf16, i32, u32, f32, i64, u64, f64,
};

/// Bytes per element.
size_t dtype_size(st_dtype t);
/// The header spelling ("F32", "BF16", ...).
const char* to_string(st_dtype t);
/// Parses the header spelling; nullopt if unknown.
std::optional<st_dtype> parse_dtype(const std::string& s);

/// One tensor as the header describes it.
struct safetensors_entry {
  std::string name;
  st_dtype dtype = st_dtype::f32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0; // offsets into the data section
  uint64_t end = 0;

  uint64_t num_elements() const;
};

/// A validated header, and where the data section starts in the file.
struct safetensors_header {
  std::string path;
  uint64_t data_start = 0; // 8 + N
  uint64_t data_size = 0;
  std::vector<safetensors_entry> tensors; // in data-offset order
  std::vector<std::pair<std::string, std::string>> metadata;

  /// nullptr if the file has no tensor of that name.
  const safetensors_entry* find(const std::string& name) const;
};

/// Validates the header of `bytes` (a whole file's contents); `path` only
/// names the file in errors.
caf::expected<safetensors_header> parse_safetensors(const std::string& path,
                                                    const std::vector<char>& bytes);

/// Reads and validates the header of the file at `path` against its size,
/// without reading the data section.
caf::expected<safetensors_header> read_safetensors_header(const std::string& path);

/// The raw bytes of one tensor of a file read by read_safetensors_header.
caf::expected<std::vector<char>> read_tensor_bytes(const safetensors_header& file,
                                                   const safetensors_entry& tensor);

/// One tensor's raw bytes converted to float32; F32, F16, BF16 and F64 are
/// supported, any other dtype is errc::invalid_argument naming the tensor.
caf::expected<std::vector<float>> to_float32(const safetensors_header& file,
                                             const safetensors_entry& tensor,
                                             const std::vector<char>& bytes);

/// A tensor to write: `data` holds product(shape) * dtype_size(dtype) bytes.
struct safetensors_view {
  std::string name;
  st_dtype dtype = st_dtype::f32;
  std::vector<uint64_t> shape;
  const void* data = nullptr;
};

/// Bytes that write_safetensors will produce for these tensors.
uint64_t safetensors_file_size(const std::vector<safetensors_view>& tensors,
                               const std::vector<std::pair<std::string, std::string>>& metadata);

/// Writes the tensors, in the order given, to PATH.tmp and renames it to
/// PATH. The header is padded with spaces to a multiple of 8 bytes so that
/// the data section is aligned. Names must be unique and non-empty.
caf::error write_safetensors(const std::string& path,
                             const std::vector<safetensors_view>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata);

/// The same file written through `fs` straight to PATH (no PATH.tmp, no
/// rename: for a caller that writes a whole temporary directory and renames
/// that); fs.write_file fsyncs it.
caf::error write_safetensors(file_system& fs, const std::string& path,
                             const std::vector<safetensors_view>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata);

/// `count` float32 values as little-endian `to` bytes: F32 as is, F64
/// exactly, F16 and BF16 rounded to nearest even (F16 overflows to inf).
/// Any other dtype is errc::invalid_argument.
caf::expected<std::vector<char>> from_float32(const float* values, size_t count, st_dtype to);

} // namespace tandem
