// adamw_state.hpp: the state of learner_core's torch::optim::AdamW as named
// tensors of the learner-state format (learner_state.hpp), and back.
//
// Per parameter, in export order (transformer::named_parameters), three
// tensors: "<param>.adamw.step" (int64 scalar: the optimizer steps that
// parameter has taken, which set its bias correction), "<param>.adamw.exp_avg"
// and "<param>.adamw.exp_avg_sq" (float32, the parameter's shape). A
// parameter AdamW holds no state for yet (no step so far) is written as step
// 0 and zero moments: exactly the state AdamW creates for it on its first
// step, so installing that state changes nothing about later steps. amsgrad
// is off in learner_core, so there is no max_exp_avg_sq.
//
// LibTorch keys AdamW's state map by the parameter's TensorImpl: as a string
// of its address on 1.x, as the pointer itself on 2.x; state_key() builds
// whichever the headers declare, so this compiles against both.
//
// Thread safety: one thread at a time (the learner's). Private to models/.
#pragma once

#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <torch/torch.h>

#include "models/internal/learner_state.hpp"
#include "models/internal/transformer.hpp"

namespace tandem::internal {

/// Appends the AdamW state of every parameter of `model` to `w`.
void write_adamw_state(const torch::optim::AdamW& opt, const transformer& model,
                       learner_state_writer& w);

/// Checks `tensors` against `model` (count, then names, dtypes and shapes in
/// order: errc::invalid_argument naming the first tensor that does not
/// fit) and only then replaces the state of every parameter of `opt`, the
/// moments moved to the parameter's device. All or nothing.
caf::error read_adamw_state(torch::optim::AdamW& opt, const transformer& model,
                            const std::vector<state_tensor>& tensors);

/// One parameter's AdamW state outside torch::optim::AdamW (the sharded
/// optimizer's, models/internal/data_parallel.hpp).
struct param_moments {
  int64_t step = 0;
  torch::Tensor exp_avg;    // float32, the parameter's shape (any device)
  torch::Tensor exp_avg_sq;
};

/// The same tensors as write_adamw_state, from `moments` (one per parameter
/// in export order).
void write_moments(const transformer& model, const std::vector<param_moments>& moments,
                   learner_state_writer& w);

/// Checks `tensors` as read_adamw_state does and returns them as moments on
/// the host.
caf::expected<std::vector<param_moments>> read_moments(const transformer& model,
                                                       const std::vector<state_tensor>& tensors);

} // namespace tandem::internal
