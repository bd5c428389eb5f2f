// tiny_model.hpp: the tiny models, learner settings and patterned batches
// that the model, learner and data-parallel tests share, and the helpers
// that train a learner on its own log-probs. Torch-free, like the
// interfaces it drives (learner_core, policy).
//
// Thread safety: the functions are pure apart from make_learner(), which
// sets the calling thread's LibTorch thread count (policy::set_threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "models/learner_core.hpp"
#include "models/model_config.hpp"
#include "models/policy.hpp"

namespace tandem::test {

/// 25 tokens, hidden 32, 2 layers, 4 heads (2 for k/v), MLP 48, 32 positions:
/// small enough that a data-parallel step on threads takes milliseconds.
model_config tiny_model();

/// tiny_model() with 40 tokens and 24 positions: the decoding tests' model
/// (a larger vocabulary gives the sampling cuts something to cut).
model_config tiny_decoder_model();

/// tiny_model() twice as wide (hidden 64, MLP 176): the single learner's
/// tests, where a step must visibly move log-probs.
model_config tiny_wide_model();

/// One learner on tiny_wide_model(): lr 1e-2, 6 new tokens, seed 3.
learner_settings tiny_learner_settings();

/// A data-parallel rank on tiny_model(): lr 3e-3, weight decay 0.01, 6 new
/// tokens, 16 KiB gradient buckets (so that a step has several), seed 5.
/// ranks, rank, zero_stage and collective are the caller's.
learner_settings data_parallel_settings();

/// The layout of patterned_rows(): row i of batch k has a prompt of
/// 1 + (i + k) % prompt_lengths tokens and a completion of
/// 1 + (7 i + k) % completion_lengths tokens, all below 25 (the tiny models'
/// vocabulary) and different per row and batch.
struct row_pattern {
  size_t rows = 0;
  size_t batch = 0; // k: shifts lengths, tokens and advantages
  size_t prompt_lengths = 5;
  size_t completion_lengths = 6;
  int64_t version = 0; // every completion token's sampling version
  /// Behaviour log-prob of token j: -3.2 + behav_wobble * sin(i + j + k)
  /// (near what a tiny random model gives, so ratios stay near 1).
  double behav_wobble = 0;
};

/// Rows laid out by `p`; row i's advantage is sin(3 k + i + 0.5), of both
/// signs across a batch.
std::vector<train_sequence> patterned_rows(const row_pattern& p);

/// Max |a - b| over two float32 blobs (export_weights()); their sizes are
/// expected equal.
double max_abs_diff(const std::vector<char>& a, const std::vector<char>& b);

/// A learner of settings `s` on one LibTorch thread (a failure is a test
/// failure and gives null).
std::unique_ptr<learner_core> make_learner(const learner_settings& s);

/// A policy holding the learner's current weights.
std::unique_ptr<policy> policy_of(const learner_core& l, const model_config& cfg);

/// n rows of patterned_rows()'s layout (batch 0) with advantages +1 and -1
/// in turn and behaviour log-probs that are the learner's own, as if
/// sampled on-policy with its current weights (at `temperature`).
std::vector<train_sequence> on_policy_batch(const learner_core& l, const model_config& cfg,
                                            size_t n, double temperature = 1.0);

/// The sum of the completion's log-probs under `p` (temperature 1).
double total_logp(policy& p, const train_sequence& s);

} // namespace tandem::test
