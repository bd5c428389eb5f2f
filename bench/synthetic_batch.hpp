// synthetic_batch.hpp: the fixed random GRPO batch the learner benches train
// on (tandem bench learner, tandem bench checkpoint), so that both time the
// same kind of step.
//
// B rows of P prompt + C completion tokens, uniform over the vocabulary;
// behaviour log-probs -ln V + N(0, 0.3), near a random policy's, so that the
// decoupled weights pi_prox / pi_behav are O(1); advantages N(0, 1); every
// token tagged version 0. The same seed gives the same batch.
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "models/learner_core.hpp"

namespace tandem {

struct synthetic_batch_shape {
  int64_t seqs = 1, prompt_len = 1, completion_len = 1;
  int32_t vocab = 2;
  uint64_t seed = 1;
};

std::vector<train_sequence> synthetic_grpo_batch(const synthetic_batch_shape& shape);

} // namespace tandem
