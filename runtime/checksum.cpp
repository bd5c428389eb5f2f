#include "runtime/checksum.hpp"

#include <cstring>

namespace tandem {

namespace {

constexpr uint64_t k1 = 0x9E3779B185EBCA87ull; // odd constants with well-mixed bits
constexpr uint64_t k2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t k3 = 0x165667B19E3779F9ull;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8); // unaligned-safe; little-endian hosts only (as the weight blob)
  return w;
}

uint64_t round64(uint64_t lane, uint64_t w) { return rotl(lane + w * k2, 31) * k1; }

uint64_t avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= k2;
  h ^= h >> 29;
  h *= k3;
  h ^= h >> 32;
  return h;
}

} // namespace

uint64_t fast_checksum64(const char* data, size_t size) {
  uint64_t lane[4] = {k1 + k2, k2, 0, 0 - k1};
  size_t i = 0;
  for (; i + 32 <= size; i += 32)
    for (int l = 0; l < 4; ++l)
      lane[l] = round64(lane[l], load64(data + i + 8 * l));
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  for (int l = 0; l < 4; ++l)
    h = (h ^ round64(0, lane[l])) * k1 + k3;
  h += static_cast<uint64_t>(size);
  for (; i + 8 <= size; i += 8)
    h = rotl(h ^ round64(0, load64(data + i)), 27) * k1 + k3;
  for (; i < size; ++i)
    h = rotl(h ^ (static_cast<unsigned char>(data[i]) * k3), 11) * k1;
  return avalanche(h);
}

} // namespace tandem
