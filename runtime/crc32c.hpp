// crc32c.hpp: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
// checksum of TensorBoard's event-file records (runtime/tfevents.hpp), and
// the masked form those records store.
//
// Table-driven, one byte per step: event records are a few hundred bytes,
// so speed does not matter here.
//
// Thread safety: pure functions (the table is built once, thread-safely).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem {

/// CRC-32C of SIZE bytes at DATA, continuing from CRC (0 for a fresh one).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);

inline uint32_t crc32c(const void* data, size_t size) {
  return crc32c_extend(0, data, size);
}

/// The record format's masked CRC: a CRC over data that itself holds CRCs
/// is weak, so records store the rotated value plus a constant.
inline uint32_t crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

inline uint32_t crc32c_unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

} // namespace tandem
