// learner_state.cpp: writer and parser of the learner-state format
// (learner_state.hpp).
#include "models/internal/learner_state.hpp"

#include <cstring>
#include <limits>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "learner_state.cpp copies host values as little-endian data"
#endif

namespace tandem::internal {

namespace {

constexpr char magic[8] = {'T', 'N', 'D', 'M', 'L', 'R', 'S', 'T'};
constexpr uint32_t format_version = 1;
// magic | version | count | total bytes | policy version
constexpr size_t header_bytes = 8 + 4 + 4 + 8 + 8;
constexpr size_t version_at = 8;
constexpr size_t count_at = 12;
constexpr size_t total_at = 16;
constexpr size_t policy_at = 24;
constexpr size_t trailer_bytes = 8;
// A rank beyond this is a corrupted length field, not a tensor of ours.
constexpr uint32_t max_rank = 8;

template <class T>
void put(std::vector<char>& out, T v) {
  const auto at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

template <class T>
void put_at(std::vector<char>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof(T));
}

caf::error malformed(const std::string& what) {
  return make_error(errc::malformed_message, "learner state: " + what);
}

/// Bounds-checked reads over [at, size).
class reader {
public:
  reader(const char* data, size_t size, size_t at) : data_(data), size_(size), at_(at) {}

  template <class T>
  bool get(T& v) {
    if (size_ - at_ < sizeof(T))
      return false;
    std::memcpy(&v, data_ + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }

  bool take(size_t n, const char*& p) {
    if (size_ - at_ < n)
      return false;
    p = data_ + at_;
    at_ += n;
    return true;
  }

  size_t at() const { return at_; }

private:
  const char* data_;
  size_t size_;
  size_t at_;
};

// Element count of `shape`, or false when a dim is negative or the product
// cannot be a tensor held in `limit` bytes of elements of size `elem`.
bool element_count(const std::vector<int64_t>& shape, size_t elem, size_t limit, size_t& n) {
  n = 1;
  for (auto d : shape) {
    if (d < 0)
      return false;
    if (d != 0 && n > limit / elem / static_cast<size_t>(d))
      return false;
    n *= static_cast<size_t>(d);
  }
  return true;
}

caf::expected<state_tensor> read_tensor(reader& r, size_t body_end, size_t index) {
  const auto where = "tensor " + std::to_string(index);
  state_tensor t;
  uint32_t name_len = 0;
  const char* name = nullptr;
  if (!r.get(name_len) || !r.take(name_len, name))
    return malformed(where + ": name runs past the end");
  t.name.assign(name, name_len);
  uint8_t dtype = 0;
  uint32_t rank = 0;
  if (!r.get(dtype) || !r.get(rank))
    return malformed(where + " '" + t.name + "': header runs past the end");
  if (dtype != static_cast<uint8_t>(state_dtype::float32)
      && dtype != static_cast<uint8_t>(state_dtype::int64))
    return malformed(where + " '" + t.name + "': unknown dtype " + std::to_string(dtype));
  if (rank > max_rank)
    return malformed(where + " '" + t.name + "': rank " + std::to_string(rank));
  t.dtype = static_cast<state_dtype>(dtype);
  t.shape.resize(rank);
  for (auto& d : t.shape)
    if (!r.get(d))
      return malformed(where + " '" + t.name + "': shape runs past the end");
  size_t n = 0;
  const auto elem = element_size(t.dtype);
  if (!element_count(t.shape, elem, body_end, n))
    return malformed(where + " '" + t.name + "': bad shape " + shape_string(t.shape));
  t.bytes = n * elem;
  if (!r.take(t.bytes, t.data))
    return malformed(where + " '" + t.name + "': data runs past the end");
  return t;
}

} // namespace

size_t element_size(state_dtype t) { return t == state_dtype::int64 ? 8 : 4; }

const char* to_string(state_dtype t) { return t == state_dtype::int64 ? "int64" : "float32"; }

size_t encoded_size(const std::string& name, state_dtype dtype, const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (auto d : shape)
    n *= static_cast<size_t>(d);
  return 4 + name.size() + 1 + 4 + 8 * shape.size() + n * element_size(dtype);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

learner_state_writer::learner_state_writer(int64_t policy_version) {
  out_.resize(header_bytes, 0); // count and total bytes: set by finish()
  std::memcpy(out_.data(), magic, sizeof(magic));
  put_at(out_, version_at, format_version);
  put_at(out_, policy_at, policy_version);
}

void learner_state_writer::reserve(size_t bytes) {
  out_.reserve(out_.size() + bytes + trailer_bytes);
}

void learner_state_writer::add(const std::string& name, state_dtype dtype,
                               const std::vector<int64_t>& shape, const void* data) {
  put(out_, static_cast<uint32_t>(name.size()));
  out_.insert(out_.end(), name.begin(), name.end());
  put(out_, static_cast<uint8_t>(dtype));
  put(out_, static_cast<uint32_t>(shape.size()));
  size_t n = 1;
  for (auto d : shape) {
    put(out_, d);
    n *= static_cast<size_t>(d);
  }
  const auto bytes = n * element_size(dtype);
  // One pass over the bytes: copied in directly (a resize would zero-fill the
  // fresh pages first, doubling the memory traffic of a checkpoint's stall).
  if (data != nullptr) {
    const auto* from = static_cast<const char*>(data);
    out_.insert(out_.end(), from, from + bytes);
  } else {
    out_.resize(out_.size() + bytes, 0);
  }
  ++count_;
}

std::vector<char> learner_state_writer::finish() {
  put_at(out_, count_at, count_);
  put_at(out_, total_at, static_cast<uint64_t>(out_.size() + trailer_bytes));
  put(out_, fast_checksum64(out_.data(), out_.size()));
  return std::move(out_);
}

caf::expected<parsed_learner_state> parse_learner_state(const char* data, size_t size) {
  if (data == nullptr || size < header_bytes + trailer_bytes)
    return malformed("truncated: " + std::to_string(size) + " bytes, shorter than a header");
  if (std::memcmp(data, magic, sizeof(magic)) != 0)
    return malformed("bad magic (not a tandem learner state)");
  reader head(data, size, sizeof(magic));
  uint32_t version = 0, count = 0;
  uint64_t total = 0;
  parsed_learner_state out;
  head.get(version);
  head.get(count);
  head.get(total);
  head.get(out.policy_version);
  if (version != format_version)
    return malformed("format version " + std::to_string(version) + ", this build reads "
                     + std::to_string(format_version));
  if (total != size)
    return malformed((total > size ? "truncated: " : "trailing bytes: ") + std::to_string(size)
                     + " bytes, the header says " + std::to_string(total));
  const auto body_end = size - trailer_bytes;
  uint64_t sum = 0;
  std::memcpy(&sum, data + body_end, sizeof(sum));
  if (sum != fast_checksum64(data, body_end))
    return malformed("checksum mismatch (corrupted)");
  reader r(data, body_end, header_bytes);
  for (uint32_t i = 0; i < count; ++i) {
    auto t = read_tensor(r, body_end, i);
    if (!t)
      return t.error();
    out.tensors.push_back(std::move(*t));
  }
  if (r.at() != body_end)
    return malformed(std::to_string(body_end - r.at()) + " bytes after the last tensor");
  return out;
}

namespace {
constexpr const char* entropy_control_name = "entropy_control";
} // namespace

void write_entropy_control(double alpha, double last_entropy, learner_state_writer& w) {
  int64_t bits[2];
  std::memcpy(&bits[0], &alpha, sizeof(double));
  std::memcpy(&bits[1], &last_entropy, sizeof(double));
  w.add(entropy_control_name, state_dtype::int64, {2}, bits);
}

caf::expected<std::optional<entropy_control_state>>
take_entropy_control(std::vector<state_tensor>& tensors) {
  if (tensors.empty() || tensors.back().name != entropy_control_name)
    return std::optional<entropy_control_state>{};
  const auto& t = tensors.back();
  if (t.dtype != state_dtype::int64 || t.shape != std::vector<int64_t>{2}
      || t.bytes != 2 * sizeof(int64_t))
    return make_error(errc::malformed_message,
                      std::string("learner state: tensor '") + entropy_control_name + "' is "
                        + to_string(t.dtype) + " " + shape_string(t.shape)
                        + ", expected int64 [2]");
  entropy_control_state st;
  std::memcpy(&st.alpha, t.data, sizeof(double));
  std::memcpy(&st.last_entropy, t.data + sizeof(double), sizeof(double));
  tensors.pop_back();
  return std::optional<entropy_control_state>{st};
}

} // namespace tandem::internal
