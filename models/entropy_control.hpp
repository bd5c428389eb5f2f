// entropy_control.hpp: the coefficient of the entropy bonus, fixed or steered
// toward a target entropy (torch-free; docs/grpo.md §4.1).
//
// Fixed (entropy_target 0): every step uses entropy_coef.
// Steered (entropy_target > 0), Skywork-OR1's adaptive entropy control:
//   after each optimizer step that measured token-mean entropy e,
//     alpha <- clamp(alpha + step, 0, max)   when e < target
//     alpha <- clamp(alpha - step, 0, max)   otherwise
//   and the next step uses alpha while the last e is below the target, 0 once
//   it is above (the bonus acts only while entropy is too low; alpha keeps
//   what it learned, so a dip is answered at once). alpha starts at
//   entropy_coef; before the first step nothing is measured and no bonus
//   applies.
// A fixed coefficient small enough not to disturb learning early is too small
// to stop the collapse late (README "Not yet"); steering adds the bonus only
// when and as much as the entropy needs it.
//
// Thread safety: one thread at a time (the learner's).
#pragma once

#include <limits>

#include "models/grpo_config.hpp"

namespace tandem {

class entropy_control {
public:
  explicit entropy_control(const grpo_config& g);

  /// Coefficient of the entropy bonus for the next optimizer step.
  double coef() const;

  /// The token-mean entropy the step just taken measured.
  void observe(double entropy);

  bool steered() const { return target_ > 0; }

  /// State a resumed learner needs to go on exactly (learner state blob).
  double alpha() const { return alpha_; }
  double last_entropy() const { return last_; }
  void restore(double alpha, double last_entropy);

private:
  double fixed_;
  double target_;
  double step_;
  double max_;
  double alpha_;
  // +inf: nothing measured yet (no bonus before the first step).
  double last_ = std::numeric_limits<double>::infinity();
};

} // namespace tandem
