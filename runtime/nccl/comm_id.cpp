// comm_id.cpp: byte and hex conversions of a communicator id.
#include "runtime/nccl/comm_id.hpp"

#include <algorithm>
#include <string>

#include "runtime/error.hpp"

namespace tandem::nccl {

std::vector<uint8_t> to_bytes(const comm_id& id) {
  return {id.bytes.begin(), id.bytes.end()};
}

caf::expected<comm_id> from_bytes(const std::vector<uint8_t>& bytes) {
  if (bytes.size() != comm_id::size)
    return make_error(errc::malformed_message,
                      "comm_id needs " + std::to_string(comm_id::size)
                        + " bytes, got " + std::to_string(bytes.size()));
  comm_id id;
  std::copy(bytes.begin(), bytes.end(), id.bytes.begin());
  return id;
}

std::string to_hex(const comm_id& id) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * comm_id::size);
  for (auto b : id.bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

} // namespace

caf::expected<comm_id> from_hex(const std::string& hex) {
  if (hex.size() != 2 * comm_id::size)
    return make_error(errc::malformed_message,
                      "comm_id hex needs " + std::to_string(2 * comm_id::size)
                        + " characters, got " + std::to_string(hex.size()));
  comm_id id;
  for (size_t i = 0; i < comm_id::size; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return make_error(errc::malformed_message,
                        "comm_id hex has a non-hex character at "
                          + std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    id.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return id;
}

} // namespace tandem::nccl
