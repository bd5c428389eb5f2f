// entropy_control.cpp: see entropy_control.hpp.
#include "models/entropy_control.hpp"

#include <algorithm>
#include <cmath>

namespace tandem {

entropy_control::entropy_control(const grpo_config& g)
  : fixed_(g.entropy_coef), target_(g.entropy_target), step_(g.entropy_coef_step),
    max_(g.entropy_coef_max), alpha_(std::min(g.entropy_coef, g.entropy_coef_max)) {}

double entropy_control::coef() const {
  if (!steered())
    return fixed_;
  return last_ < target_ ? alpha_ : 0.0;
}

void entropy_control::observe(double entropy) {
  if (!steered() || !std::isfinite(entropy))
    return; // a step that measured nothing leaves the control as it was
  last_ = entropy;
  alpha_ = std::clamp(entropy < target_ ? alpha_ + step_ : alpha_ - step_, 0.0, max_);
}

void entropy_control::restore(double alpha, double last_entropy) {
  alpha_ = std::clamp(alpha, 0.0, max_);
  last_ = last_entropy;
}

} // namespace tandem
