// sim_backends.hpp: a simulated training backend for control-plane
// benchmarks (`tandem bench control`) and tests. The learner actor, the
// controller's accounting and the weight broadcaster run unchanged; only the
// GRPO step is replaced by a counter and an optional fixed step time.
//
// Weights are a tiny blob (`weight_bytes`, at least 8) whose first 8 bytes
// hold the version, so every published version still travels as a checksummed
// weights_chunk to every sampler and is acknowledged.
//
// Saved state (export_state): the version and the sequence count, with a
// magic and a checksum, so a resumed simulation counts on from where it
// stopped and a corrupted state is refused like a real one. import_weights
// checks the blob's size and that the version it holds is the one given.
//
// Thread safety: like every training_backend, used by one actor at a time;
// version() and steps() may also be read from another thread (atomics), e.g.
// by a benchmark after the run. With step_time > 0, train() sleeps: spawn the
// learner detached (as in production), never on the scheduler's threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/backends.hpp"

namespace tandem {

struct sim_training_settings {
  caf::timespan step_time{0}; // simulated time of one optimizer step
  size_t weight_bytes = 64;   // size of the published blob (>= 8)
};

class sim_training_backend : public training_backend {
public:
  explicit sim_training_backend(sim_training_settings settings = {});

  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override;
  std::vector<char> export_weights() const override;
  int64_t version() const override { return version_.load(); }
  std::vector<char> export_state() const override;
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override;
  caf::error import_state(const std::vector<char>& state) override;

  /// Optimizer steps taken (== version, as each batch is one step, counting
  /// those of a run it resumed).
  int64_t steps() const { return version_.load(); }
  /// Sequences trained on, over all steps.
  int64_t sequences() const { return sequences_.load(); }

private:
  sim_training_settings settings_;
  std::atomic<int64_t> version_{0};
  std::atomic<int64_t> sequences_{0};
};

} // namespace tandem
