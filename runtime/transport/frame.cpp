#include "runtime/transport/frame.hpp"

#include <cstring>
#include <limits>
#include <new>

#include <msgpack.hpp>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"
#include "runtime/weights_blob.hpp"

// Raw-bin vectors are the host's bytes; every tandem host is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "raw-bin payload encoding assumes a little-endian host");

namespace tandem::transport {

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

caf::error bad(const char* what, const std::string& why) {
  return make_error(errc::malformed_message, std::string{what} + ": " + why);
}

std::vector<char> to_vector(const msgpack::sbuffer& sb) {
  return std::vector<char>(sb.data(), sb.data() + sb.size());
}

// Str and bin objects point into the caller's buffer instead of being copied
// into the zone: the decoders copy exactly once, into the result.
bool reference_all(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

// map and ext are never used by tandem: a limit of 0 rejects them.
msgpack::unpack_limit make_limit(size_t array, size_t str, size_t bin,
                                 size_t depth) {
  return msgpack::unpack_limit(array, 0, str, bin, 0, depth);
}

caf::expected<msgpack::object_handle>
parse(const char* data, size_t size, const msgpack::unpack_limit& limit,
      const char* what) {
  try {
    size_t offset = 0;
    auto oh = msgpack::unpack(data, size, offset, reference_all, nullptr, limit);
    if (offset != size)
      return bad(what, "trailing bytes after the message");
    return oh;
  } catch (const std::bad_alloc&) {
    return bad(what, "allocation refused while parsing");
  } catch (const std::exception& e) {
    return bad(what, std::string{"unparsable msgpack ("} + e.what() + ")");
  } catch (...) {
    return bad(what, "unparsable msgpack");
  }
}

// -- typed readers: false on a type mismatch, never throw --------------------

const msgpack::object* get_array(const msgpack::object& o, uint32_t n) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != n)
    return nullptr;
  return o.via.array.ptr;
}

bool get_uint(const msgpack::object& o, uint64_t& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER)
    return false;
  out = o.via.u64;
  return true;
}

bool get_u32(const msgpack::object& o, uint32_t& out) {
  uint64_t v = 0;
  if (!get_uint(o, v) || v > std::numeric_limits<uint32_t>::max())
    return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool get_int(const msgpack::object& o, int64_t& out) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
    return true;
  }
  if (o.type != msgpack::type::POSITIVE_INTEGER
      || o.via.u64 > uint64_t(std::numeric_limits<int64_t>::max()))
    return false;
  out = static_cast<int64_t>(o.via.u64);
  return true;
}

bool get_str(const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR)
    return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

bool get_bin(const msgpack::object& o, std::vector<char>& out) {
  if (o.type != msgpack::type::BIN)
    return false;
  out.assign(o.via.bin.ptr, o.via.bin.ptr + o.via.bin.size);
  return true;
}

// A vector of plain numbers packed as raw little-endian bin.
template <class T>
void pack_raw(packer& pk, const std::vector<T>& v) {
  auto bytes = v.size() * sizeof(T);
  pk.pack_bin(static_cast<uint32_t>(bytes));
  pk.pack_bin_body(reinterpret_cast<const char*>(v.data()),
                   static_cast<uint32_t>(bytes));
}

template <class T>
bool get_raw(const msgpack::object& o, std::vector<T>& out) {
  if (o.type != msgpack::type::BIN || o.via.bin.size % sizeof(T) != 0)
    return false;
  out.resize(o.via.bin.size / sizeof(T));
  if (!out.empty())
    std::memcpy(out.data(), o.via.bin.ptr, o.via.bin.size);
  return true;
}

void pack_str(packer& pk, const std::string& s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

} // namespace

const char* to_string(frame_kind k) {
  switch (k) {
    case frame_kind::rollouts: return "rollouts";
    case frame_kind::weights_chunk: return "weights_chunk";
    case frame_kind::hello: return "hello";
    case frame_kind::ack: return "ack";
  }
  return "unknown";
}

// -- frame --------------------------------------------------------------------

std::vector<char> encode_frame(const frame& f) {
  msgpack::sbuffer sb(f.payload.size() + 64 + f.sender.size());
  packer pk(&sb);
  pk.pack_array(7);
  pk.pack_str(4);
  pk.pack_str_body(frame_magic, 4);
  pk.pack_uint32(frame_format_version);
  pk.pack_uint8(static_cast<uint8_t>(f.kind));
  pack_str(pk, f.sender);
  pk.pack_uint64(f.seq);
  pk.pack_bin(static_cast<uint32_t>(f.payload.size()));
  pk.pack_bin_body(f.payload.data(), static_cast<uint32_t>(f.payload.size()));
  pk.pack_uint64(fast_checksum64(f.payload.data(), f.payload.size()));
  return to_vector(sb);
}

namespace {

bool valid_kind(uint64_t k) {
  return k >= uint64_t(frame_kind::rollouts) && k <= uint64_t(frame_kind::ack);
}

caf::error check_header(const msgpack::object* a) {
  if (a[0].type != msgpack::type::STR || a[0].via.str.size != 4
      || std::memcmp(a[0].via.str.ptr, frame_magic, 4) != 0)
    return bad("frame", "wrong magic");
  uint64_t version = 0;
  if (!get_uint(a[1], version) || version != frame_format_version)
    return bad("frame", "unsupported format version");
  uint64_t kind = 0;
  if (!get_uint(a[2], kind) || !valid_kind(kind))
    return bad("frame", "unknown kind");
  return caf::none;
}

} // namespace

caf::expected<frame> decode_frame(const char* data, size_t size,
                                  size_t max_bytes) {
  if (size > max_bytes)
    return bad("frame", std::to_string(size) + " bytes exceed the limit of "
                          + std::to_string(max_bytes));
  auto oh = parse(data, size, make_limit(7, max_sender_bytes, max_bytes, 2),
                  "frame");
  if (!oh)
    return oh.error();
  const auto* a = get_array(oh->get(), 7);
  if (a == nullptr)
    return bad("frame", "not an array of 7 fields");
  if (auto err = check_header(a))
    return err;
  frame f;
  f.kind = static_cast<frame_kind>(a[2].via.u64);
  uint64_t checksum = 0;
  if (!get_str(a[3], f.sender) || !get_uint(a[4], f.seq)
      || a[5].type != msgpack::type::BIN || !get_uint(a[6], checksum))
    return bad("frame", "field of the wrong type");
  const auto& bin = a[5].via.bin;
  if (fast_checksum64(bin.ptr, bin.size) != checksum)
    return bad("frame", "payload checksum mismatch");
  f.payload.assign(bin.ptr, bin.ptr + bin.size);
  return f;
}

// -- rollouts -----------------------------------------------------------------

// Bounds for rollout payloads: one array holds at most this many elements
// (groups of a batch, completions of a group); deeper nesting is malformed.
constexpr size_t rollout_array_limit = 1 << 16;
constexpr size_t rollout_str_limit = 1 << 20; // answer / sampler name
constexpr size_t rollout_depth_limit = 4;     // batch > group > completions > completion

namespace {

void pack_completion(packer& pk, const completion_record& c) {
  pk.pack_array(4);
  pack_raw(pk, c.tokens);
  pack_raw(pk, c.logprobs);
  pack_raw(pk, c.versions);
  if (c.finished)
    pk.pack_true();
  else
    pk.pack_false();
}

void pack_group(packer& pk, const rollout_group& g) {
  pk.pack_array(6);
  pk.pack_uint64(g.group_id);
  pk.pack_uint64(g.problem_id);
  pack_raw(pk, g.prompt);
  pack_str(pk, g.answer);
  pk.pack_array(static_cast<uint32_t>(g.completions.size()));
  for (const auto& c : g.completions)
    pack_completion(pk, c);
  pack_str(pk, g.sampler);
}

bool read_completion(const msgpack::object& o, completion_record& c) {
  const auto* a = get_array(o, 4);
  if (a == nullptr || a[3].type != msgpack::type::BOOLEAN)
    return false;
  c.finished = a[3].via.boolean;
  return get_raw(a[0], c.tokens) && get_raw(a[1], c.logprobs)
         && get_raw(a[2], c.versions);
}

bool read_group(const msgpack::object& o, rollout_group& g) {
  const auto* a = get_array(o, 6);
  if (a == nullptr || !get_uint(a[0], g.group_id) || !get_uint(a[1], g.problem_id)
      || !get_raw(a[2], g.prompt) || !get_str(a[3], g.answer)
      || a[4].type != msgpack::type::ARRAY || !get_str(a[5], g.sampler))
    return false;
  const auto& cs = a[4].via.array;
  g.completions.resize(cs.size);
  for (uint32_t i = 0; i < cs.size; ++i)
    if (!read_completion(cs.ptr[i], g.completions[i]))
      return false;
  return true;
}

} // namespace

std::vector<char> encode_rollouts(const std::vector<rollout_group>& groups) {
  msgpack::sbuffer sb;
  packer pk(&sb);
  pk.pack_array(static_cast<uint32_t>(groups.size()));
  for (const auto& g : groups)
    pack_group(pk, g);
  return to_vector(sb);
}

caf::expected<std::vector<rollout_group>> decode_rollouts(const char* data,
                                                          size_t size) {
  auto limit = make_limit(rollout_array_limit, rollout_str_limit, size,
                          rollout_depth_limit);
  auto oh = parse(data, size, limit, "rollouts");
  if (!oh)
    return oh.error();
  const auto& top = oh->get();
  if (top.type != msgpack::type::ARRAY)
    return bad("rollouts", "not an array of groups");
  std::vector<rollout_group> out(top.via.array.size);
  for (uint32_t i = 0; i < top.via.array.size; ++i)
    if (!read_group(top.via.array.ptr[i], out[i]))
      return bad("rollouts", "group " + std::to_string(i) + " is malformed");
  return out;
}

// -- weights chunk ------------------------------------------------------------

std::vector<char> encode_chunk(const weights_chunk& c) {
  msgpack::sbuffer sb(c.bytes.size() + 64);
  packer pk(&sb);
  pk.pack_array(6);
  pk.pack_int64(c.version);
  pk.pack_uint32(c.index);
  pk.pack_uint32(c.count);
  pk.pack_uint64(c.total_size);
  pk.pack_uint64(c.checksum);
  pk.pack_bin(static_cast<uint32_t>(c.bytes.size()));
  pk.pack_bin_body(c.bytes.data(), static_cast<uint32_t>(c.bytes.size()));
  return to_vector(sb);
}

caf::expected<weights_chunk> decode_chunk(const char* data, size_t size) {
  auto oh = parse(data, size, make_limit(6, 0, size, 1), "weights chunk");
  if (!oh)
    return oh.error();
  const auto* a = get_array(oh->get(), 6);
  weights_chunk c;
  if (a == nullptr || !get_int(a[0], c.version) || !get_u32(a[1], c.index)
      || !get_u32(a[2], c.count) || !get_uint(a[3], c.total_size)
      || !get_uint(a[4], c.checksum) || !get_bin(a[5], c.bytes))
    return bad("weights chunk", "wrong layout or field type");
  return c;
}

// -- hello / ack --------------------------------------------------------------

std::vector<char> encode_hello(const hello_msg& h) {
  msgpack::sbuffer sb;
  packer pk(&sb);
  pk.pack_array(4);
  pk.pack_int64(h.have_version);
  pk.pack_int64(h.next_version);
  pk.pack_uint32(h.next_index);
  pk.pack_uint32(h.window);
  return to_vector(sb);
}

caf::expected<hello_msg> decode_hello(const char* data, size_t size) {
  auto oh = parse(data, size, make_limit(4, 0, 0, 1), "hello");
  if (!oh)
    return oh.error();
  const auto* a = get_array(oh->get(), 4);
  hello_msg h;
  if (a == nullptr || !get_int(a[0], h.have_version)
      || !get_int(a[1], h.next_version) || !get_u32(a[2], h.next_index)
      || !get_u32(a[3], h.window))
    return bad("hello", "wrong layout or field type");
  return h;
}

std::vector<char> encode_ack(const ack_msg& x) {
  msgpack::sbuffer sb;
  packer pk(&sb);
  pk.pack_array(3);
  pk.pack_int64(x.version);
  pk.pack_uint32(x.first_index);
  pk.pack_uint32(x.chunks_following);
  return to_vector(sb);
}

caf::expected<ack_msg> decode_ack(const char* data, size_t size) {
  auto oh = parse(data, size, make_limit(3, 0, 0, 1), "ack");
  if (!oh)
    return oh.error();
  const auto* a = get_array(oh->get(), 3);
  ack_msg x;
  if (a == nullptr || !get_int(a[0], x.version) || !get_u32(a[1], x.first_index)
      || !get_u32(a[2], x.chunks_following))
    return bad("ack", "wrong layout or field type");
  return x;
}

} // namespace tandem::transport
