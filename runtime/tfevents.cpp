#include "runtime/tfevents.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "runtime/crc32c.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

// --- protobuf wire format (the few pieces an Event needs) -------------------
// A field's key is (field number << 3) | wire type.
enum wire : uint32_t { wire_varint = 0, wire_fixed64 = 1, wire_bytes = 2, wire_fixed32 = 5 };

// Field numbers of TensorFlow's public event.proto and summary.proto.
constexpr uint32_t event_wall_time = 1;    // Event.wall_time (double)
constexpr uint32_t event_step = 2;         // Event.step (int64)
constexpr uint32_t event_file_version = 3; // Event.file_version (string)
constexpr uint32_t event_summary = 5;      // Event.summary (Summary)
constexpr uint32_t summary_value = 1;      // Summary.value (repeated Summary.Value)
constexpr uint32_t value_tag = 1;          // Summary.Value.tag (string)
constexpr uint32_t value_simple_value = 2; // Summary.Value.simple_value (float)

void put_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7)
    out += static_cast<char>((v & 0x7f) | 0x80);
  out += static_cast<char>(v);
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_key(std::string& out, uint32_t field, wire type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | type);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, wire_bytes);
  put_varint(out, bytes.size());
  out += bytes;
}

void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, wire_fixed64);
  put_le(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, wire_fixed32);
  put_le(out, bits, 4);
}

/// Reads one message's fields; every read checks the bounds.
class wire_reader {
public:
  explicit wire_reader(const std::string& bytes) : bytes_(bytes) {}
  bool done() const { return pos_ >= bytes_.size(); }

  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos_ < bytes_.size(); shift += 7) {
      auto b = static_cast<unsigned char>(bytes_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80))
        return true;
    }
    return false;
  }

  bool le(uint64_t& v, int n) {
    if (bytes_.size() - pos_ < static_cast<size_t>(n))
      return false;
    v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[pos_++])) << (8 * i);
    return true;
  }

  bool bytes(std::string& s) {
    uint64_t n;
    if (!varint(n) || n > bytes_.size() - pos_)
      return false;
    s = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  bool skip(uint32_t type) {
    uint64_t v;
    std::string s;
    switch (type) {
      case wire_varint: return varint(v);
      case wire_fixed64: return le(v, 8);
      case wire_fixed32: return le(v, 4);
      case wire_bytes: return bytes(s);
      default: return false; // groups (3, 4) are not used by these messages
    }
  }

private:
  const std::string& bytes_;
  size_t pos_ = 0;
};

std::string encode_value(const tf_scalar& s) {
  std::string v;
  put_bytes(v, value_tag, s.tag);
  put_float(v, value_simple_value, s.value);
  return v;
}

bool decode_value(const std::string& bytes, tf_scalar& s) {
  wire_reader r(bytes);
  while (!r.done()) {
    uint64_t key, v;
    if (!r.varint(key))
      return false;
    auto field = static_cast<uint32_t>(key >> 3);
    auto type = static_cast<uint32_t>(key & 7);
    if (field == value_tag && type == wire_bytes) {
      if (!r.bytes(s.tag))
        return false;
    } else if (field == value_simple_value && type == wire_fixed32) {
      if (!r.le(v, 4))
        return false;
      auto bits = static_cast<uint32_t>(v);
      std::memcpy(&s.value, &bits, sizeof bits);
    } else if (!r.skip(type)) {
      return false;
    }
  }
  return true;
}

bool decode_summary(const std::string& bytes, std::vector<tf_scalar>& out) {
  wire_reader r(bytes);
  while (!r.done()) {
    uint64_t key;
    if (!r.varint(key))
      return false;
    if ((key >> 3) == summary_value && (key & 7) == wire_bytes) {
      std::string v;
      tf_scalar s;
      if (!r.bytes(v) || !decode_value(v, s))
        return false;
      out.push_back(std::move(s));
    } else if (!r.skip(static_cast<uint32_t>(key & 7))) {
      return false;
    }
  }
  return true;
}

bool decode_event_field(wire_reader& r, uint32_t field, uint32_t type, tf_event& e) {
  uint64_t v;
  std::string s;
  if (field == event_wall_time && type == wire_fixed64) {
    if (!r.le(v, 8))
      return false;
    std::memcpy(&e.wall_time, &v, sizeof v);
    return true;
  }
  if (field == event_step && type == wire_varint) {
    if (!r.varint(v))
      return false;
    e.step = static_cast<int64_t>(v);
    return true;
  }
  if (field == event_file_version && type == wire_bytes)
    return r.bytes(e.file_version);
  if (field == event_summary && type == wire_bytes)
    return r.bytes(s) && decode_summary(s, e.scalars);
  return r.skip(type);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
    return "localhost";
  return buf;
}

uint32_t read_le32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

caf::error bad_record(const std::string& path, size_t offset, const std::string& what) {
  return make_error(errc::malformed_message,
                    path + ": record at byte offset " + std::to_string(offset) + ": " + what);
}

} // namespace

std::string encode_tf_event(const tf_event& e) {
  std::string out;
  put_double(out, event_wall_time, e.wall_time);
  put_key(out, event_step, wire_varint);
  put_varint(out, static_cast<uint64_t>(e.step));
  if (!e.file_version.empty())
    put_bytes(out, event_file_version, e.file_version);
  if (!e.scalars.empty()) {
    std::string summary;
    for (auto& s : e.scalars)
      put_bytes(summary, summary_value, encode_value(s));
    put_bytes(out, event_summary, summary);
  }
  return out;
}

caf::expected<tf_event> decode_tf_event(const std::string& bytes, const std::string& where) {
  tf_event e;
  wire_reader r(bytes);
  while (!r.done()) {
    uint64_t key;
    if (!r.varint(key)
        || !decode_event_field(r, static_cast<uint32_t>(key >> 3),
                               static_cast<uint32_t>(key & 7), e))
      return make_error(errc::malformed_message, where + ": malformed Event message");
  }
  return e;
}

std::string frame_tf_record(const std::string& data) {
  std::string out;
  put_le(out, data.size(), 8);
  put_le(out, crc32c_mask(crc32c(out.data(), 8)), 4);
  out += data;
  put_le(out, crc32c_mask(crc32c(data.data(), data.size())), 4);
  return out;
}

caf::expected<std::unique_ptr<tfevents_writer>> tfevents_writer::create(const std::string& dir,
                                                                        double wall_time) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(errc::io_failure, "cannot create " + dir + ": " + ec.message());
  auto base = dir + "/events.out.tfevents."
              + std::to_string(static_cast<int64_t>(std::floor(wall_time))) + "." + host_name();
  std::unique_ptr<tfevents_writer> w{new tfevents_writer};
  for (int n = 0; n < 1000 && !w->file_; ++n) {
    w->path_ = n == 0 ? base : base + "." + std::to_string(n);
    w->file_ = std::fopen(w->path_.c_str(), "wbx"); // x: fails if the file exists
    if (!w->file_ && errno != EEXIST)
      return make_error(errc::io_failure,
                        "cannot create " + w->path_ + ": " + std::strerror(errno));
  }
  if (!w->file_)
    return make_error(errc::io_failure, "cannot create " + base + ": every name is taken");
  tf_event first;
  first.wall_time = wall_time;
  first.file_version = "brain.Event:2";
  if (auto err = w->write(first))
    return err;
  return w;
}

tfevents_writer::~tfevents_writer() {
  if (file_)
    std::fclose(file_);
}

caf::error tfevents_writer::write(const tf_event& e) {
  auto rec = frame_tf_record(encode_tf_event(e));
  if (std::fwrite(rec.data(), 1, rec.size(), file_) != rec.size() || std::fflush(file_) != 0)
    return make_error(errc::io_failure, "write to " + path_ + " failed: " + std::strerror(errno));
  return caf::none;
}

caf::expected<std::vector<tf_event>> read_tfevents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(errc::io_failure, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  std::vector<tf_event> out;
  for (size_t at = 0; at < s.size();) {
    if (s.size() - at < 12)
      return bad_record(path, at, "torn record (header cut short)");
    uint64_t len = 0;
    for (int i = 0; i < 8; ++i)
      len |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    if (crc32c_mask(crc32c(s.data() + at, 8)) != read_le32(s, at + 8))
      return bad_record(path, at, "length CRC mismatch");
    if (len > s.size() - at - 12 || s.size() - at - 12 - len < 4)
      return bad_record(path, at, "torn record (data cut short)");
    auto data = s.substr(at + 12, len);
    if (crc32c_mask(crc32c(data.data(), data.size())) != read_le32(s, at + 12 + len))
      return bad_record(path, at, "data CRC mismatch");
    auto e = decode_tf_event(data, path + " at byte offset " + std::to_string(at));
    if (!e)
      return e.error();
    out.push_back(std::move(*e));
    at += 12 + len + 4;
  }
  return out;
}

} // namespace tandem
