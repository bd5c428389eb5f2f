// overlong_penalty.hpp: DAPO's soft overlong punishment (docs/grpo.md §1.1),
// a length term added to the reward of a completion close to the generation
// limit, so that the policy learns to finish before it is cut off rather than
// being told only "wrong" for a truncated answer.
//
//   L_max = sampler.max_new_tokens, L_cache = reward.overlong_buffer,
//   p = reward.overlong_penalty, |y| = completion tokens:
//   R_len(y) = 0                                  |y| <= L_max - L_cache
//            = -(|y| - (L_max - L_cache)) / L_cache * p    L_max - L_cache < |y| <= L_max
//            = -p                                 |y| > L_max
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/messages.hpp"

namespace tandem {

struct overlong_settings {
  int32_t max_new_tokens = 0; // L_max
  int32_t buffer = 0;         // L_cache in tokens; 0 = off
  double penalty = 1.0;       // p: the penalty at L_max
};

/// R_len of a completion of `length` tokens (<= 0); 0 when the buffer is 0.
double overlong_penalty(size_t length, const overlong_settings& s);

/// Adds R_len to the reward of every completion of `g` (by its token count).
/// A no-op when the buffer is 0.
void apply_overlong_penalty(scored_group& g, const overlong_settings& s);

} // namespace tandem
