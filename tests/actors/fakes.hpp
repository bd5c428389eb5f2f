// fakes.hpp: generation and training backends that return at once, for
// deterministic actor tests (no LibTorch).
#pragma once

#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "actors/backends.hpp"
#include "runtime/error.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem::testing {

/// Emits `length` tokens per sequence, one per step: the digits of `answer`
/// (as set by the test) followed by </answer>, padded with '0' digits.
/// Weights are "loaded" by remembering their first byte.
class fake_generation_backend : public generation_backend {
public:
  explicit fake_generation_backend(int32_t length = 3) : length_(length) {}

  caf::error load_weights(const std::vector<char>& blob) override {
    ++loads;
    last_blob = blob;
    return caf::none;
  }
  caf::error start(std::vector<std::vector<int32_t>> prompts,
                   std::vector<uint64_t> seeds) override {
    if (fail_next_start) {
      fail_next_start = false;
      return make_error(errc::backend_failure, "injected");
    }
    seqs_.assign(prompts.size(), {});
    steps_ = 0;
    seeds_ = std::move(seeds);
    oov_ = oov_batches > 0;
    oov_batches -= oov_ ? 1 : 0;
    ++batches;
    sequences += static_cast<int>(prompts.size());
    return caf::none;
  }
  caf::error step(int64_t version) override {
    char_tokenizer tok;
    for (size_t i = 0; i < seqs_.size(); ++i) {
      auto ids = *tok.encode((answer_for ? answer_for(i) : answer) + "</answer>");
      auto& s = seqs_[i];
      auto t = steps_ < static_cast<int32_t>(ids.size()) ? ids[steps_] : ids.back();
      if (oov_ && steps_ == 0)
        t = oov_token;
      s.tokens.push_back(t);
      s.logprobs.push_back(logprob_for(i < seeds_.size() ? seeds_[i] : 0));
      s.versions.push_back(version);
      s.finished = t == char_tokenizer::answer_close_id;
    }
    ++steps_;
    ++total_steps;
    return caf::none;
  }
  bool done() const override {
    return steps_ >= length_ || (!seqs_.empty() && seqs_.front().finished);
  }
  std::vector<generated_sequence> take_results() override {
    auto out = std::move(seqs_);
    seqs_.clear();
    return out;
  }

  /// The log-prob recorded for every token of a completion sampled with
  /// `seed`. A retry gets a new group seed (work_buffer), hence new
  /// completion seeds, so a regenerated group differs from the original in
  /// its log-probs even though its tokens are the same.
  static float logprob_for(uint64_t seed) { return -0.5f - float(seed % 1000) * 1e-4f; }

  /// An id no tokenizer knows (a corrupted or hostile sampler's output).
  static constexpr int32_t oov_token = 1 << 20;

  std::string answer = "7";
  // When set: the answer of row i of the batch (answers of one length).
  std::function<std::string(size_t)> answer_for;
  bool fail_next_start = false;
  int oov_batches = 0; // the next n batches start every completion with oov_token
  int loads = 0, batches = 0, total_steps = 0;
  int sequences = 0; // completions started, over all batches
  std::vector<char> last_blob;

private:
  int32_t length_;
  int32_t steps_ = 0;
  std::vector<uint64_t> seeds_; // one per completion of the batch
  bool oov_ = false;
  std::vector<generated_sequence> seqs_;
};

/// Counts steps and keeps every batch it was given, failed ones included;
/// weights are 16 bytes holding the version.
class fake_training_backend : public training_backend {
public:
  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override {
    const auto call = received.size();
    received.push_back(batch);
    if (failing_calls.count(call) > 0)
      return make_error(errc::numeric_failure, "injected");
    train_step_stats s;
    s.loss = loss;
    s.version = ++version_;
    s.tokens = 0;
    for (auto& b : batch)
      s.tokens += static_cast<int64_t>(b.completion.size());
    return std::vector<train_step_stats>{s};
  }
  std::vector<char> export_weights() const override {
    std::vector<char> w(16, 0);
    std::memcpy(w.data(), &version_, sizeof(version_));
    return w;
  }
  int64_t version() const override { return version_; }
  /// "fakestat" | version; import checks the tag, as a real state's magic.
  std::vector<char> export_state() const override {
    std::vector<char> st(16, 0);
    std::memcpy(st.data(), "fakestat", 8);
    std::memcpy(st.data() + 8, &version_, sizeof(version_));
    return st;
  }
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override {
    if (blob.size() != 16)
      return make_error(errc::invalid_argument, "fake learner: weights of the wrong size");
    version_ = version;
    return caf::none;
  }
  caf::error import_state(const std::vector<char>& st) override {
    if (st.size() != 16 || std::memcmp(st.data(), "fakestat", 8) != 0)
      return make_error(errc::malformed_message, "fake learner: not a fake learner's state");
    std::memcpy(&version_, st.data() + 8, sizeof(version_));
    return caf::none;
  }

  std::set<size_t> failing_calls; // these calls (0 = the first) fail like a non-finite loss
  grpo_loss_stats loss;           // reported by every step
  std::vector<std::vector<train_sequence>> received; // in call order

private:
  int64_t version_ = 0;
};

/// A rollout_outbox standing in for the ZeroMQ data plane. Each send() is
/// batch n (0, 1, ...); `plan(n)` says what the "network" does with it:
/// deliver it to `controller` as the head's intake would, lose it, deliver
/// it twice, or refuse it (the socket's send deadline passed).
class fake_outbox : public rollout_outbox {
public:
  enum class fate { deliver, lose, duplicate, refuse };
  caf::actor controller;
  std::function<fate(size_t)> plan = [](size_t) { return fate::deliver; };
  size_t sent = 0;

  caf::error send(const std::vector<rollout_group>& groups) override {
    auto f = plan(sent++);
    if (f == fate::refuse)
      return make_error(errc::timeout, "fake outbox: send deadline passed");
    generate_result r;
    r.groups = groups;
    if (f != fate::lose)
      caf::anon_send(controller, rollouts_atom::value, r);
    if (f == fate::duplicate)
      caf::anon_send(controller, rollouts_atom::value, r);
    return caf::none;
  }
};

} // namespace tandem::testing
