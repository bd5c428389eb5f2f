// lr_schedule.cpp: the formulas of lr_schedule.hpp.
#include "models/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace tandem {

const char* to_string(lr_schedule_kind k) {
  switch (k) {
    case lr_schedule_kind::constant: return "constant";
    case lr_schedule_kind::linear: return "linear";
    case lr_schedule_kind::cosine: return "cosine";
  }
  return "?";
}

double lr_at(double lr, const lr_schedule& s, int64_t step) {
  step = std::max<int64_t>(step, 0);
  if (step < s.warmup_steps)
    return lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.kind == lr_schedule_kind::constant)
    return lr;
  const int64_t span = std::max<int64_t>(s.total_steps - s.warmup_steps, 1);
  const double p = std::clamp(static_cast<double>(step - s.warmup_steps)
                                / static_cast<double>(span), 0.0, 1.0);
  const double fraction = s.kind == lr_schedule_kind::linear
                            ? 1.0 - p
                            : 0.5 * (1.0 + std::cos(M_PI * p));
  return s.min_lr + (lr - s.min_lr) * fraction;
}

std::string lr_schedule_problem(double lr, const lr_schedule& s) {
  if (s.warmup_steps < 0)
    return "warmup_steps must be >= 0";
  if (!(s.min_lr >= 0) || !(s.min_lr <= lr))
    return "min_lr must be in [0, lr]";
  if (s.kind != lr_schedule_kind::constant && s.total_steps < 1)
    return "a decaying schedule needs total_steps >= 1";
  return {};
}

} // namespace tandem
