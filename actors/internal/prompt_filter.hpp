// prompt_filter.hpp: how the controller turns drawn problems into prompts it
// may admit. A prompt longer than the run's limit (task.max_prompt_tokens,
// or what model.max_seq_len leaves after sampler.max_new_tokens) would fail
// in every sampler, so it is dropped and counted instead; a question the
// tokenizer cannot encode is skipped and counted (the controller's
// skipped_problems).
//
// draw() keeps drawing until a problem fits, at most max_attempts problems
// per call: a source whose every prompt is too long ends the run with an
// error naming the limit instead of spinning (datasets are checked for that
// before the run starts, wiring/components.cpp; generated tasks are not).
// 10,000 attempts: a source where one prompt in a hundred fits still finds
// one in a call with probability 1 - 0.99^10000 (1 - 2e-44), and drawing and
// tokenizing 10,000 short questions takes milliseconds.
//
// Counters: dropped() counts since this controller started (a resumed head
// starts again at 0); take_interval() hands out the drops since its last
// call (one step's count in metrics.jsonl).
//
// Thread safety: one thread (the controller actor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "actors/internal/run_snapshot.hpp"
#include "tasks/problem.hpp"
#include "tasks/text_tokenizer.hpp"

namespace tandem {

class prompt_filter {
public:
  static constexpr uint64_t default_max_attempts = 10000;

  /// `max_tokens` 0 = no limit.
  explicit prompt_filter(size_t max_tokens = 0, uint64_t max_attempts = default_max_attempts)
    : max_tokens_(max_tokens), max_attempts_(max_attempts) {}

  /// A drawn problem and its prompt ids.
  struct drawn {
    problem p;
    std::vector<int32_t> ids;
  };

  /// The next problem of `problems` whose prompt encodes and fits. Encoding
  /// failures add to `skipped`, long prompts to dropped(). errc::invalid_config
  /// after max_attempts problems without one that fits.
  caf::expected<drawn> draw(problem_cursor& problems, const text_tokenizer& tok,
                            uint64_t& skipped);

  uint64_t dropped() const { return dropped_; }
  /// Drops since the previous call.
  uint64_t take_interval();

private:
  size_t max_tokens_;
  uint64_t max_attempts_;
  uint64_t dropped_ = 0;
  uint64_t reported_ = 0; // dropped_ at the last take_interval()
};

} // namespace tandem
