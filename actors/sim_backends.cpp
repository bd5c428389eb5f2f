#include "actors/sim_backends.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

// "TNDMSIMS" | i64 version | i64 sequences | u64 fast_checksum64 of the 24
// bytes before it (little-endian hosts, as the weight blob).
constexpr char sim_state_magic[8] = {'T', 'N', 'D', 'M', 'S', 'I', 'M', 'S'};
constexpr size_t sim_state_bytes = 32;

} // namespace

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

std::vector<char> sim_training_backend::export_state() const {
  std::vector<char> out(sim_state_bytes);
  const int64_t fields[2] = {version_.load(), sequences_.load()};
  std::memcpy(out.data(), sim_state_magic, 8);
  std::memcpy(out.data() + 8, fields, 16);
  const auto sum = fast_checksum64(out.data(), 24);
  std::memcpy(out.data() + 24, &sum, 8);
  return out;
}

caf::error sim_training_backend::import_weights(const std::vector<char>& blob, int64_t version) {
  if (blob.size() != settings_.weight_bytes)
    return make_error(errc::invalid_argument, "sim learner: weights of " + std::to_string(blob.size())
                                                + " bytes, expected "
                                                + std::to_string(settings_.weight_bytes));
  int64_t held = 0;
  std::memcpy(&held, blob.data(), sizeof(held));
  if (held != version)
    return make_error(errc::version_mismatch, "sim learner: weights of version "
                                                + std::to_string(held) + " imported as version "
                                                + std::to_string(version));
  version_ = version;
  return caf::none;
}

caf::error sim_training_backend::import_state(const std::vector<char>& state) {
  if (state.size() != sim_state_bytes || std::memcmp(state.data(), sim_state_magic, 8) != 0)
    return make_error(errc::malformed_message, "sim learner: not a simulated learner's state ("
                                                 + std::to_string(state.size()) + " bytes)");
  uint64_t sum = 0;
  std::memcpy(&sum, state.data() + 24, 8);
  if (sum != fast_checksum64(state.data(), 24))
    return make_error(errc::malformed_message, "sim learner: state checksum mismatch");
  int64_t fields[2] = {0, 0};
  std::memcpy(fields, state.data() + 8, 16);
  if (fields[0] < 0 || fields[1] < 0)
    return make_error(errc::invalid_argument, "sim learner: negative version or count in state");
  version_ = fields[0];
  sequences_ = fields[1];
  return caf::none;
}

} // namespace tandem
