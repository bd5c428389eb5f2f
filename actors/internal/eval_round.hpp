// eval_round.hpp: one evaluation of one policy version, as decode jobs and
// figures, with no actor system and no model (the evaluator actor,
// actors/evaluator.hpp, and `tandem eval` drive it with a decoder).
//
// A round at version v does any of:
//   eval     every item once greedily (accuracy) and n times sampled
//            (pass@k, the unbiased estimator 1 - C(n-c, k) / C(n, k) with c
//            of the n correct; with n = k, whether any of the k is correct)
//   samples  the first `samples` items once each, sampled (samples.jsonl)
// Its rows are cut into jobs of at most `batch_rows` prompts; a job is all
// greedy or all sampled (the two use different sampling settings).
//
//   planned ──next()──▶ job out ──record(answers)──▶ planned ... ──▶ done
//   (next() returns nothing while a job is out or when every row is handed
//    out; record() of a wrong-sized answer is an error and ends the round)
//
// Seeds: sampled row j of item i draws from completion_seed(mix(seed,
// version, i), j), so a round's completions depend on the weights, the
// seed and the item only (not on batching). Greedy rows need no seed.
//
// eval_schedule says which rounds are due: eval at versions 0, every,
// 2*every, ... (the first version at or after each multiple that the
// evaluator holds), samples likewise with samples_every; a resumed run
// starts after its checkpoint's step.
//
// Thread safety: plain values; one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "models/policy.hpp"

namespace tandem {

/// A problem ready to decode.
struct eval_item {
  std::string question;
  std::string answer;
  std::vector<int32_t> prompt;
};

/// What one round does.
struct eval_plan {
  bool eval = false;   // greedy accuracy and pass@k over every item
  int32_t k = 1;       // the k of pass@k
  int32_t n = 0;       // sampled completions per item (>= k; 0: k)
  int32_t samples = 0; // sampled completions for samples.jsonl (first items)
  bool any() const { return eval || samples > 0; }
  int32_t draws() const { return n > k ? n : k; }
};

/// A batch to decode: greedy (top_p -> 0) or with the run's sampling.
struct decode_job {
  bool greedy = false;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<uint64_t> seeds;
};

struct eval_figures {
  int64_t version = 0;
  int64_t problems = 0;
  int32_t k = 0;
  int32_t n = 0;          // sampled completions per problem
  double greedy_acc = 0;  // items whose greedy completion is correct
  double pass_at_k = 0;   // mean over items of the unbiased pass@k
  double sampled_acc = 0; // correct sampled completions / all of them
};

/// One completion for samples.jsonl.
struct sampled_completion {
  size_t item = 0;
  generated_sequence sequence;
};

/// Whether `completion` answers an item whose reference is `answer`.
using eval_answer_check =
  std::function<bool(const std::vector<int32_t>& completion, const std::string& answer)>;

/// Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 when
/// n - c < k; 0 when k > n.
double pass_at_k(int64_t n, int64_t c, int64_t k);

class eval_round {
public:
  /// `items` must outlive the round (the evaluator's settings own them).
  eval_round(const std::vector<eval_item>& items, eval_plan plan, int64_t version,
             uint64_t seed, size_t batch_rows, eval_answer_check check);

  int64_t version() const { return version_; }
  const eval_plan& plan() const { return plan_; }

  /// The next job, or nothing while one is out or when all were handed out.
  std::optional<decode_job> next();

  /// The answers to the job handed out last, one per prompt, in order.
  caf::error record(std::vector<generated_sequence> answers);

  /// Every job answered.
  bool done() const;
  /// Jobs the round consists of in all.
  size_t jobs() const { return jobs_; }

  /// Valid when done() and plan().eval.
  eval_figures figures() const;
  /// Valid when done(): the samples, in item order.
  std::vector<sampled_completion>& samples() { return samples_; }

private:
  enum class row_kind : uint8_t { greedy, pass, sample };
  struct row {
    row_kind kind;
    size_t item;
    int32_t index; // among the item's rows of that kind
  };

  const std::vector<eval_item>& items_;
  eval_plan plan_;
  int64_t version_;
  uint64_t seed_;
  size_t batch_rows_;
  eval_answer_check check_;
  std::vector<row> rows_; // greedy rows first, then the sampled ones
  size_t next_row_ = 0;
  std::vector<row> out_;  // the job handed out
  bool job_out_ = false;
  size_t jobs_ = 0;
  std::vector<uint8_t> greedy_ok_;
  std::vector<int64_t> pass_correct_;
  std::vector<sampled_completion> samples_;
};

/// When rounds are due (see the header comment).
class eval_schedule {
public:
  /// `resume_step` 0: a fresh run (version 0 is due); else versions after it.
  eval_schedule(int32_t every, int32_t samples_every, int32_t k, int32_t samples_count,
                int64_t resume_step);

  /// What a round at `version` does now (plan.any() false: nothing due).
  eval_plan due(int64_t version) const;
  /// The round for `version` ran (or failed): the next ones are due later.
  void ran(int64_t version, const eval_plan& plan);
  /// The last version of the run: evaluated unless that was done already.
  eval_plan final_plan(int64_t version) const;

private:
  static int64_t after(int64_t version, int32_t every);
  int32_t every_, samples_every_, k_, samples_count_;
  int64_t next_eval_, next_samples_;
  int64_t last_eval_ = -1, last_samples_ = -1;
};

} // namespace tandem
