// tiny_model.cpp: see tiny_model.hpp.
#include "tests/support/tiny_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "runtime/error.hpp"

namespace tandem::test {

model_config tiny_model() {
  model_config c;
  c.vocab_size = 25;
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.intermediate_size = 48;
  c.max_seq_len = 32;
  return c;
}

model_config tiny_decoder_model() {
  auto c = tiny_model();
  c.vocab_size = 40;
  c.max_seq_len = 24;
  return c;
}

model_config tiny_wide_model() {
  auto c = tiny_model();
  c.hidden_size = 64;
  c.intermediate_size = 176;
  return c;
}

learner_settings tiny_learner_settings() {
  learner_settings s;
  s.model = tiny_wide_model();
  s.optimizer.lr = 1e-2;
  s.max_new_tokens = 6;
  s.seed = 3;
  return s;
}

learner_settings data_parallel_settings() {
  learner_settings s;
  s.model = tiny_model();
  s.optimizer.lr = 3e-3;
  s.optimizer.weight_decay = 0.01;
  s.max_new_tokens = 6;
  s.grad_bucket_bytes = 16 << 10;
  s.seed = 5;
  return s;
}

std::vector<train_sequence> patterned_rows(const row_pattern& p) {
  std::vector<train_sequence> out;
  const size_t k = p.batch;
  for (size_t i = 0; i < p.rows; ++i) {
    train_sequence s;
    for (size_t j = 0; j < 1 + (i + k) % p.prompt_lengths; ++j)
      s.prompt.push_back(static_cast<int32_t>((5 * i + 3 * j + 2 + k) % 25));
    for (size_t j = 0; j < 1 + (i * 7 + k) % p.completion_lengths; ++j)
      s.completion.push_back(static_cast<int32_t>((11 * i + 13 * j + 1 + 2 * k) % 25));
    for (size_t j = 0; j < s.completion.size(); ++j)
      s.behav_logprobs.push_back(
        static_cast<float>(-3.2 + p.behav_wobble * std::sin(double(i + j + k))));
    s.versions.assign(s.completion.size(), p.version);
    s.advantage = std::sin(double(3 * k + i) + 0.5);
    out.push_back(std::move(s));
  }
  return out;
}

double max_abs_diff(const std::vector<char>& a, const std::vector<char>& b) {
  EXPECT_EQ(a.size(), b.size());
  std::vector<float> x(a.size() / sizeof(float)), y(b.size() / sizeof(float));
  std::memcpy(x.data(), a.data(), x.size() * sizeof(float));
  std::memcpy(y.data(), b.data(), y.size() * sizeof(float));
  double worst = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    worst = std::max(worst, double(std::abs(x[i] - y[i])));
  return worst;
}

std::unique_ptr<learner_core> make_learner(const learner_settings& s) {
  policy::set_threads(1);
  auto l = learner_core::make(s);
  EXPECT_TRUE(l) << describe(l.error());
  return l ? std::move(*l) : nullptr;
}

std::unique_ptr<policy> policy_of(const learner_core& l, const model_config& cfg) {
  auto p = std::move(*policy::make(cfg, 0));
  auto blob = l.export_weights();
  EXPECT_FALSE(p->import_weights(blob.data(), blob.size()));
  return p;
}

std::vector<train_sequence> on_policy_batch(const learner_core& l, const model_config& cfg,
                                            size_t n, double temperature) {
  auto batch = patterned_rows({n, 0, 5, 6, l.version()});
  std::vector<scored_input> in;
  for (size_t i = 0; i < n; ++i) {
    batch[i].advantage = (i % 2 == 0) ? 1.0 : -1.0;
    in.push_back({batch[i].prompt, batch[i].completion});
  }
  auto scores = policy_of(l, cfg)->score(in, temperature);
  EXPECT_TRUE(scores);
  for (size_t i = 0; i < n; ++i)
    batch[i].behav_logprobs = (*scores)[i];
  return batch;
}

double total_logp(policy& p, const train_sequence& s) {
  auto r = p.score({{s.prompt, s.completion}}, 1.0);
  EXPECT_TRUE(r);
  double sum = 0;
  for (auto x : (*r)[0])
    sum += x;
  return sum;
}

} // namespace tandem::test
