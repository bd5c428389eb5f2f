// lr_schedule.hpp: the learning rate of each optimizer step
// (learner.lr_schedule, learner.warmup_steps, learner.min_lr), torch-free.
//
// Step s is 0-based: the s-th optimizer step of the run, i.e. the policy
// version before it (so a resumed learner goes on where it stopped). With
// peak lr L, warmup W, minimum m and T total steps (run.steps):
//   s < W                 L * (s + 1) / W        (the first step is not 0)
//   then p = (s - W) / (T - W), clamped to [0, 1]:
//     constant            L
//     linear              m + (L - m) * (1 - p)
//     cosine              m + (L - m) * (1 + cos(pi * p)) / 2
// so the decay starts at L on step W and reaches m at step T (one past the
// last step the run takes).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

enum class lr_schedule_kind : uint8_t { constant, linear, cosine };

const char* to_string(lr_schedule_kind k);

struct lr_schedule {
  lr_schedule_kind kind = lr_schedule_kind::constant;
  int32_t warmup_steps = 0; // 0 = no warmup
  double min_lr = 0;        // where linear and cosine end; unused by constant
  int64_t total_steps = 0;  // run.steps; linear and cosine need it >= 1
};

/// The learning rate of 0-based optimizer step `step` for peak rate `lr`.
double lr_at(double lr, const lr_schedule& s, int64_t step);

/// "" when `s` fits peak rate `lr`, else why not (warmup_steps >= 0,
/// 0 <= min_lr <= lr, total_steps >= 1 for linear and cosine).
std::string lr_schedule_problem(double lr, const lr_schedule& s);

} // namespace tandem
