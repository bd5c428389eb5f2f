// frame.hpp: the versioned envelope of tandem's data plane and its payload
// codecs (msgpack).
//
// Wire form of one frame (one ZeroMQ message), a msgpack array of 7:
//   ["TNDM", format_version, kind, sender, seq, payload (bin), fast_checksum64(payload)]
// The checksum catches corruption and codec bugs, not forgery: authenticity
// comes from CURVE (auth.hpp).
//
// Untrusted input: decode_frame checks the size bound before parsing, parses
// with msgpack::unpack_limit (tiny arrays, no maps, bounded str/bin) and never
// throws; every rejection is errc::malformed_message with a reason. msgpack
// allocates one object slot (24 B) per declared array element up front, so the
// transient memory of a decode is bounded by about 24 x the input size plus
// depth x array limit x 24 B; payload codecs keep big vectors as raw bin so
// honest payloads need few slots.
//
// Payload encodings (all msgpack arrays, positional):
//   rollouts: [ [group_id, problem_id, prompt, answer, [completion...], sampler] ... ]
//     completion: [tokens, logprobs, versions, finished]
//     prompt/tokens (int32), logprobs (float32), versions (int64) travel as raw
//     little-endian bin, not element-wise: memcpy speed and few msgpack slots.
//   weights_chunk: [version, index, count, total_size, checksum, bytes (bin)]
//   hello (subscriber -> publisher): [have_version, next_version, next_index, window]
//   ack   (publisher -> subscriber): [version, first_index, chunks_following]
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/messages.hpp"

namespace tandem::transport {

constexpr char frame_magic[] = "TNDM";
constexpr uint32_t frame_format_version = 2; // 2: fast_checksum64 replaced FNV-1a

/// Longest accepted sender name; longer names are malformed.
constexpr size_t max_sender_bytes = 256;

enum class frame_kind : uint8_t {
  rollouts = 1,
  weights_chunk = 2,
  hello = 3,
  ack = 4,
};

const char* to_string(frame_kind k);

struct frame {
  frame_kind kind = frame_kind::rollouts;
  std::string sender;
  uint64_t seq = 0;
  std::vector<char> payload;
};

/// Encodes `f`; the checksum of the payload is computed here.
std::vector<char> encode_frame(const frame& f);

/// Decodes untrusted bytes. Rejects (errc::malformed_message) input larger
/// than `max_bytes`, unparsable msgpack, trailing bytes, a wrong magic,
/// format version, kind or checksum. Never throws.
caf::expected<frame> decode_frame(const char* data, size_t size,
                                  size_t max_bytes);

std::vector<char> encode_rollouts(const std::vector<rollout_group>& groups);
caf::expected<std::vector<rollout_group>> decode_rollouts(const char* data,
                                                          size_t size);

std::vector<char> encode_chunk(const weights_chunk& c);
caf::expected<weights_chunk> decode_chunk(const char* data, size_t size);

/// hello: a weights subscriber asks for the newest version it lacks.
struct hello_msg {
  int64_t have_version = -1; // newest complete version the subscriber holds
  int64_t next_version = -1; // version it is assembling (-1: none)
  uint32_t next_index = 0;   // first chunk of next_version it still lacks
  uint32_t window = 0;       // how many chunks it accepts in one answer
};

/// ack: the publisher's answer header; `chunks_following` weights_chunk
/// frames of `version`, starting at `first_index`, follow it.
struct ack_msg {
  int64_t version = -1;
  uint32_t first_index = 0;
  uint32_t chunks_following = 0;
};

std::vector<char> encode_hello(const hello_msg& h);
caf::expected<hello_msg> decode_hello(const char* data, size_t size);
std::vector<char> encode_ack(const ack_msg& a);
caf::expected<ack_msg> decode_ack(const char* data, size_t size);

} // namespace tandem::transport
