// safetensors.cpp: the safetensors format (see safetensors.hpp).
//
// Reading never trusts a number from the file before checking it: the header
// length against a fixed bound and the file size, every offset against the
// data section, every shape product and byte count against overflow.
//
// Thread safety: stateless.

#include "runtime/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp copies little-endian file data as host values"
#endif

namespace tandem {

namespace {

// The header is read into memory and parsed before anything in it can be
// checked, so its length needs a bound independent of the file: 100 MB is
// the reference implementation's limit (MAX_HEADER_SIZE); real checkpoints
// with thousands of tensors have headers of a few hundred KB.
constexpr uint64_t max_header_bytes = 100'000'000;

struct dtype_info {
  st_dtype type;
  const char* name;
  size_t size;
};

constexpr dtype_info dtypes[] = {
  {st_dtype::boolean, "BOOL", 1}, {st_dtype::u8, "U8", 1},
  {st_dtype::i8, "I8", 1},        {st_dtype::f8_e4m3, "F8_E4M3", 1},
  {st_dtype::f8_e5m2, "F8_E5M2", 1}, {st_dtype::i16, "I16", 2},
  {st_dtype::u16, "U16", 2},      {st_dtype::f16, "F16", 2},
  {st_dtype::bf16, "BF16", 2},    {st_dtype::i32, "I32", 4},
  {st_dtype::u32, "U32", 4},      {st_dtype::f32, "F32", 4},
  {st_dtype::i64, "I64", 8},      {st_dtype::u64, "U64", 8},
  {st_dtype::f64, "F64", 8},
};

const dtype_info& info(st_dtype t) {
  for (const auto& d : dtypes)
    if (d.type == t)
      return d;
  return dtypes[0]; // unreachable: every enumerator is in the table
}

caf::error bad(const std::string& path, const std::string& what) {
  return make_error(errc::malformed_message, path + ": " + what);
}

caf::error bad_tensor(const std::string& path, const std::string& name,
                      const std::string& what) {
  return bad(path, "tensor \"" + name + "\": " + what);
}

uint64_t view_bytes(const safetensors_view& t) {
  uint64_t n = dtype_size(t.dtype);
  for (auto d : t.shape)
    n *= d;
  return n;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > UINT64_MAX / a)
    return true;
  out = a * b;
  return false;
}

std::string range(const safetensors_entry& e) {
  return "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
}

// A size or byte offset: an integer >= 0 written without fraction or
// exponent (the reader's int64 range is far beyond any file).
std::optional<uint64_t> size_value(const json_value& v) {
  const auto* n = v.as_integer();
  if (n == nullptr || *n < 0)
    return std::nullopt;
  return static_cast<uint64_t>(*n);
}

caf::error parse_metadata(const std::string& path, const json_value& v,
                          safetensors_header& out) {
  const auto* members = v.as_object();
  if (members == nullptr)
    return bad(path, "__metadata__ must be an object of strings");
  for (const auto& m : *members) {
    const auto* text = m.value.as_string();
    if (text == nullptr)
      return bad(path, "__metadata__ \"" + m.key + "\" must be a string, not a "
                         + m.value.type_name());
    out.metadata.emplace_back(m.key, *text);
  }
  return {};
}

caf::error parse_shape(const std::string& path, const std::string& name,
                       const json_value* v, safetensors_entry& e) {
  const auto* dims = v == nullptr ? nullptr : v->as_array();
  if (dims == nullptr)
    return bad_tensor(path, name, "\"shape\" must be an array of sizes");
  for (const auto& d : *dims) {
    auto n = size_value(d);
    if (!n)
      return bad_tensor(path, name, "\"shape\" holds something other than a size");
    e.shape.push_back(*n);
  }
  return {};
}

caf::error parse_offsets(const std::string& path, const std::string& name,
                         const json_value* v, safetensors_entry& e) {
  const auto* pair = v == nullptr ? nullptr : v->as_array();
  if (pair == nullptr || pair->size() != 2)
    return bad_tensor(path, name, "\"data_offsets\" must be [begin, end]");
  auto b = size_value((*pair)[0]);
  auto en = size_value((*pair)[1]);
  if (!b || !en)
    return bad_tensor(path, name, "\"data_offsets\" must hold two byte offsets");
  if (*b > *en)
    return bad_tensor(path, name, "\"data_offsets\" begin " + std::to_string(*b)
                                    + " is after end " + std::to_string(*en));
  e.begin = *b;
  e.end = *en;
  return {};
}

caf::error parse_entry(const std::string& path, const std::string& name,
                       const json_value& v, uint64_t data_size, safetensors_entry& e) {
  e.name = name;
  if (name.empty())
    return bad(path, "a tensor has an empty name");
  const auto* fields = v.as_object();
  if (fields == nullptr)
    return bad_tensor(path, name, "entry must be an object");
  for (const auto& f : *fields)
    if (f.key != "dtype" && f.key != "shape" && f.key != "data_offsets")
      return bad_tensor(path, name, "unexpected field \"" + f.key + "\"");
  const auto* dt = v.find("dtype");
  const auto* dt_text = dt == nullptr ? nullptr : dt->as_string();
  if (dt_text == nullptr)
    return bad_tensor(path, name, "\"dtype\" must be a string");
  auto t = parse_dtype(*dt_text);
  if (!t)
    return bad_tensor(path, name, "unknown dtype \"" + *dt_text + "\"");
  e.dtype = *t;
  if (auto err = parse_shape(path, name, v.find("shape"), e))
    return err;
  if (auto err = parse_offsets(path, name, v.find("data_offsets"), e))
    return err;
  uint64_t bytes = dtype_size(e.dtype);
  for (auto d : e.shape)
    if (mul_overflows(bytes, d, bytes))
      return bad_tensor(path, name, "shape overflows 64 bits");
  if (bytes != e.end - e.begin)
    return bad_tensor(path, name, "shape and dtype " + std::string(to_string(e.dtype))
                                    + " need " + std::to_string(bytes) + " bytes but "
                                    "data_offsets " + range(e) + " span "
                                    + std::to_string(e.end - e.begin));
  if (e.end > data_size)
    return bad_tensor(path, name, "data_offsets " + range(e)
                                    + " go beyond the data section of "
                                    + std::to_string(data_size) + " bytes");
  return {};
}

// Sorted by offset, the tensors must cover [0, data_size) once, with no hole.
caf::error check_tiling(const std::string& path, const safetensors_header& h) {
  uint64_t covered = 0;
  const safetensors_entry* prev = nullptr;
  for (const auto& e : h.tensors) {
    if (e.begin < covered)
      return bad(path, "tensors \"" + prev->name + "\" " + range(*prev) + " and \""
                         + e.name + "\" " + range(e) + " overlap");
    if (e.begin > covered)
      return bad(path, "no tensor covers data bytes [" + std::to_string(covered) + ", "
                         + std::to_string(e.begin) + ") before \"" + e.name + "\"");
    covered = e.end;
    prev = &e;
  }
  if (covered != h.data_size)
    return bad(path, std::to_string(h.data_size - covered)
                       + " trailing bytes after the last tensor");
  return {};
}

caf::expected<safetensors_header> parse_header(const std::string& path,
                                               std::string_view text,
                                               uint64_t data_start, uint64_t data_size) {
  // A tensor or a field named twice is refused: which one wins differs
  // between readers, so the file would not mean one thing.
  const json_options strict{/*unique_keys=*/true, errc::malformed_message};
  auto doc = parse_json(text, path + " (header)", strict);
  if (!doc)
    return doc.error();
  const auto* members = doc->as_object();
  if (members == nullptr)
    return bad(path, "header must be a JSON object");
  safetensors_header h;
  h.path = path;
  h.data_start = data_start;
  h.data_size = data_size;
  for (const auto& m : *members) {
    if (m.key == "__metadata__") {
      if (auto err = parse_metadata(path, m.value, h))
        return err;
      continue;
    }
    safetensors_entry e;
    if (auto err = parse_entry(path, m.key, m.value, data_size, e))
      return err;
    h.tensors.push_back(std::move(e));
  }
  std::stable_sort(h.tensors.begin(), h.tensors.end(),
                   [](const auto& a, const auto& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  if (auto err = check_tiling(path, h))
    return err;
  return h;
}

uint64_t get_u64(const char* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return x;
}

// Checks N against the bound and the file size; returns N.
caf::expected<uint64_t> header_length(const std::string& path, const char* first8,
                                      uint64_t file_size) {
  if (file_size < 8)
    return bad(path, "truncated: " + std::to_string(file_size)
                       + " bytes, fewer than the 8-byte header length");
  const uint64_t n = get_u64(first8);
  if (n > max_header_bytes)
    return bad(path, "header length " + std::to_string(n) + " exceeds the limit of "
                       + std::to_string(max_header_bytes) + " bytes");
  if (n > file_size - 8)
    return bad(path, "header length " + std::to_string(n) + " goes beyond the end of the "
                       + std::to_string(file_size) + "-byte file (truncated?)");
  return n;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) { // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  // Rebias the exponent (127 - 15 = 112); all-ones stays inf/nan.
  const uint32_t bits = exp == 0x1f ? (sign | 0x7f800000u | (mant << 13))
                                    : (sign | ((exp + 112) << 23) | (mant << 13));
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

// Round to nearest even on the 16 bits kept; NaN stays a (quiet) NaN.
uint16_t float_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// IEEE half, round to nearest even; past 65504 (after rounding) is inf,
// below 2^-24 / 2 is zero, in between subnormal.
uint16_t float_to_half(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u)
    return sign | 0x7e00u; // NaN
  if (abs >= 0x477ff000u)
    return sign | 0x7c00u; // rounds to or past 65520: inf
  if (abs < 0x38800000u) { // below 2^-14: subnormal half (or zero)
    const float scaled = std::fabs(x) * 16777216.0f; // x / 2^-24, exact
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  uint32_t h = ((abs >> 13) - (112u << 10)); // rebias 127 -> 15, keep 10 bits
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h; // may carry into the exponent: still the right value
  return sign | static_cast<uint16_t>(h);
}

template <class T, class F>
std::vector<char> narrow(const float* values, size_t count, F&& f) {
  std::vector<char> out(count * sizeof(T));
  for (size_t i = 0; i < count; ++i) {
    const T x = f(values[i]);
    std::memcpy(out.data() + i * sizeof(T), &x, sizeof(T));
  }
  return out;
}

template <class T, class F>
std::vector<float> convert(const std::vector<char>& bytes, F&& f) {
  std::vector<float> out(bytes.size() / sizeof(T));
  for (size_t i = 0; i < out.size(); ++i) {
    T x;
    std::memcpy(&x, bytes.data() + i * sizeof(T), sizeof(T));
    out[i] = f(x);
  }
  return out;
}

std::string build_header(const std::vector<safetensors_view>& tensors,
                         const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i)
      h += (i ? "," : "") + json_quote(metadata[i].first) + ":" + json_quote(metadata[i].second);
    h += "}";
  }
  uint64_t off = 0;
  for (const auto& t : tensors) {
    const uint64_t end = off + view_bytes(t);
    h += (h.size() > 1 ? "," : "") + json_quote(t.name) + ":{\"dtype\":\""
         + to_string(t.dtype) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(end) + "]}";
    off = end;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' '); // aligns the data section
  return h;
}

void write_body(std::ostream& out, const std::string& header,
                const std::vector<safetensors_view>& tensors) {
  char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xff);
  out.write(len, 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& t : tensors)
    out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(view_bytes(t)));
}

caf::error check_views(const std::string& path, const std::vector<safetensors_view>& tensors) {
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      return make_error(errc::invalid_argument, path + ": invalid tensor name \"" + t.name + "\"");
    if (!seen.insert(t.name).second)
      return make_error(errc::invalid_argument, path + ": duplicate tensor \"" + t.name + "\"");
    if (t.data == nullptr && view_bytes(t) != 0)
      return make_error(errc::invalid_argument, path + ": tensor \"" + t.name + "\" has no data");
  }
  return {};
}

} // namespace

size_t dtype_size(st_dtype t) { return info(t).size; }
const char* to_string(st_dtype t) { return info(t).name; }

std::optional<st_dtype> parse_dtype(const std::string& s) {
  for (const auto& d : dtypes)
    if (s == d.name)
      return d.type;
  return std::nullopt;
}

uint64_t safetensors_entry::num_elements() const {
  uint64_t n = 1;
  for (auto d : shape)
    n *= d; // validated against overflow when read from a file
  return n;
}

const safetensors_entry* safetensors_header::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

caf::expected<safetensors_header> parse_safetensors(const std::string& path,
                                                    const std::vector<char>& bytes) {
  auto n = header_length(path, bytes.data(), bytes.size());
  if (!n)
    return n.error();
  return parse_header(path, std::string_view(bytes.data() + 8, *n), 8 + *n,
                      bytes.size() - 8 - *n);
}

caf::expected<safetensors_header> read_safetensors_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    return make_error(errc::io_failure, "cannot open " + path);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  char first8[8] = {};
  in.seekg(0);
  if (file_size >= 8 && !in.read(first8, 8))
    return make_error(errc::io_failure, "cannot read " + path);
  auto n = header_length(path, first8, file_size);
  if (!n)
    return n.error();
  std::string text(*n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(*n)))
    return make_error(errc::io_failure, "cannot read the header of " + path);
  return parse_header(path, text, 8 + *n, file_size - 8 - *n);
}

caf::expected<std::vector<char>> read_tensor_bytes(const safetensors_header& file,
                                                   const safetensors_entry& tensor) {
  std::ifstream in(file.path, std::ios::binary);
  if (!in)
    return make_error(errc::io_failure, "cannot open " + file.path);
  std::vector<char> out(tensor.end - tensor.begin);
  in.seekg(static_cast<std::streamoff>(file.data_start + tensor.begin));
  if (!in.read(out.data(), static_cast<std::streamsize>(out.size())))
    return make_error(errc::io_failure, file.path + ": tensor \"" + tensor.name
                                          + "\": short read (file changed since its header was read?)");
  return out;
}

caf::expected<std::vector<float>> to_float32(const safetensors_header& file,
                                             const safetensors_entry& tensor,
                                             const std::vector<char>& bytes) {
  if (bytes.size() != tensor.end - tensor.begin)
    return make_error(errc::invalid_argument, file.path + ": tensor \"" + tensor.name
                                                + "\": byte count does not match its entry");
  switch (tensor.dtype) {
    case st_dtype::f32: return convert<float>(bytes, [](float x) { return x; });
    case st_dtype::f64: return convert<double>(bytes, [](double x) { return float(x); });
    case st_dtype::f16: return convert<uint16_t>(bytes, half_to_float);
    case st_dtype::bf16: return convert<uint16_t>(bytes, bf16_to_float);
    default:
      return make_error(errc::invalid_argument,
                        file.path + ": tensor \"" + tensor.name + "\": dtype "
                          + to_string(tensor.dtype)
                          + " cannot be read as float weights (F32, F16, BF16, F64)");
  }
}

uint64_t safetensors_file_size(const std::vector<safetensors_view>& tensors,
                               const std::vector<std::pair<std::string, std::string>>& metadata) {
  uint64_t n = 8 + build_header(tensors, metadata).size();
  for (const auto& t : tensors)
    n += view_bytes(t);
  return n;
}

caf::error write_safetensors(const std::string& path,
                             const std::vector<safetensors_view>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata) {
  if (auto err = check_views(path, tensors))
    return err;
  const auto header = build_header(tensors, metadata);
  return write_file_atomically(path, [&](std::ostream& out) { write_body(out, header, tensors); });
}

caf::error write_safetensors(file_system& fs, const std::string& path,
                             const std::vector<safetensors_view>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata) {
  if (auto err = check_views(path, tensors))
    return err;
  const auto header = build_header(tensors, metadata);
  return fs.write_file(path, [&](std::ostream& out) { write_body(out, header, tensors); });
}

caf::expected<std::vector<char>> from_float32(const float* values, size_t count, st_dtype to) {
  switch (to) {
    case st_dtype::f32: return narrow<float>(values, count, [](float x) { return x; });
    case st_dtype::f64: return narrow<double>(values, count, [](float x) { return double(x); });
    case st_dtype::f16: return narrow<uint16_t>(values, count, float_to_half);
    case st_dtype::bf16: return narrow<uint16_t>(values, count, float_to_bf16);
    default:
      return make_error(errc::invalid_argument, std::string("cannot write float weights as ")
                                                  + to_string(to) + " (F32, F16, BF16, F64)");
  }
}

} // namespace tandem
