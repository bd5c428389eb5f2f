// splitmix64.hpp: the one pseudo-random generator of tandem's task sources.
//
// splitmix64 (Steele, Lea, Flood 2014; the reference constants of Vigna's
// splitmix64.c) is fully specified by integer arithmetic modulo 2^64, so a seed
// gives the same stream on every platform and compiler. `uniform_below` draws
// from [0, bound) without modulo bias by rejection: raw values below
// 2^64 mod bound are discarded, which leaves a multiple of `bound` equally
// likely values. std distributions are avoided on purpose: their algorithms are
// implementation-defined.
//
// Thread safety: a plain value; one thread at a time per state.
#pragma once

#include <cstdint>

namespace tandem::internal {

/// Advances `state` and returns the next 64-bit output.
inline uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Uniform in [0, bound); bound must be > 0 (returns 0 for bound == 0).
inline uint64_t uniform_below(uint64_t& state, uint64_t bound) {
  if (bound <= 1)
    return 0;
  // (2^64 - bound) % bound == 2^64 % bound: the size of the biased low tail.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t x = splitmix64_next(state);
    if (x >= threshold)
      return x % bound;
  }
}

} // namespace tandem::internal
