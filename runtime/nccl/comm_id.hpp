// comm_id.hpp: the 128 bytes that name one NCCL communicator, as a plain
// value type that travels in CAF messages (NCCL's own ncclUniqueId is a C
// struct that CAF cannot inspect, and this header must not need nccl.h).
//
// The learner makes one per communicator epoch (collective::make_id) and
// hands it to every member of that epoch over the control plane. To send it
// between processes, register it next to the other message types:
//   cfg.add_message_type<tandem::nccl::comm_id>("tandem.comm_id");
// or carry to_bytes()/from_bytes() in an existing message.
//
// Invariant: exactly comm_id::size bytes, compared bytewise.
// Thread safety: a value type; no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

namespace tandem::nccl {

struct comm_id {
  /// NCCL_UNIQUE_ID_BYTES; nccl_collective.cpp static_asserts the match.
  static constexpr size_t size = 128;
  std::array<uint8_t, size> bytes{};

  friend bool operator==(const comm_id& a, const comm_id& b) {
    return a.bytes == b.bytes;
  }
  friend bool operator!=(const comm_id& a, const comm_id& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, comm_id& x) {
  return f(caf::meta::type_name("comm_id"), x.bytes);
}

/// The id's bytes, e.g. to embed in another message.
std::vector<uint8_t> to_bytes(const comm_id& id);

/// Rebuilds an id; errc::malformed_message unless exactly comm_id::size bytes.
caf::expected<comm_id> from_bytes(const std::vector<uint8_t>& bytes);

/// Lower-case hex (256 characters), e.g. for a command line.
std::string to_hex(const comm_id& id);

/// Parses to_hex's output; errc::malformed_message on any other input.
caf::expected<comm_id> from_hex(const std::string& hex);

} // namespace tandem::nccl
