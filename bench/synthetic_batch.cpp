// synthetic_batch.cpp: see synthetic_batch.hpp.
#include "bench/synthetic_batch.hpp"

#include <cmath>
#include <random>

namespace tandem {

std::vector<train_sequence> synthetic_grpo_batch(const synthetic_batch_shape& b) {
  std::mt19937_64 rng(b.seed);
  std::uniform_int_distribution<int32_t> token(0, b.vocab - 1);
  std::normal_distribution<double> noise(0.0, 0.3), adv(0.0, 1.0);
  const double uniform_logp = -std::log(static_cast<double>(b.vocab));
  std::vector<train_sequence> batch(static_cast<size_t>(b.seqs));
  for (auto& s : batch) {
    for (int64_t i = 0; i < b.prompt_len; ++i)
      s.prompt.push_back(token(rng));
    for (int64_t i = 0; i < b.completion_len; ++i) {
      s.completion.push_back(token(rng));
      s.behav_logprobs.push_back(static_cast<float>(uniform_logp + noise(rng)));
    }
    s.versions.assign(s.completion.size(), 0);
    s.advantage = adv(rng);
  }
  return batch;
}

} // namespace tandem
