#include "actors/sim_backends.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include "runtime/error.hpp"

namespace tandem {

sim_training_backend::sim_training_backend(sim_training_settings settings)
    : settings_(settings) {
  settings_.weight_bytes = std::max(settings_.weight_bytes, sizeof(int64_t));
}

caf::expected<std::vector<train_step_stats>>
sim_training_backend::train(const std::vector<train_sequence>& batch) {
  if (batch.empty())
    return make_error(errc::invalid_argument, "empty training batch");
  // Stands in for the blocking LibTorch step (the learner is detached).
  if (settings_.step_time.count() > 0)
    std::this_thread::sleep_for(settings_.step_time);
  train_step_stats s;
  s.version = ++version_;
  for (auto& b : batch)
    s.tokens += static_cast<int64_t>(b.completion.size());
  sequences_ += static_cast<int64_t>(batch.size());
  return std::vector<train_step_stats>{s};
}

std::vector<char> sim_training_backend::export_weights() const {
  std::vector<char> w(settings_.weight_bytes, 0);
  auto v = version_.load();
  std::memcpy(w.data(), &v, sizeof(v));
  return w;
}

} // namespace tandem
