// eval_round.cpp: jobs, answers and figures of one evaluation round (see
// eval_round.hpp).
#include "actors/internal/eval_round.hpp"

#include <algorithm>

#include "runtime/error.hpp"

namespace tandem {

namespace {

// A per-item seed of the round: the version and item enter through
// completion_seed's hashing, so neighbouring items get unrelated streams.
uint64_t item_seed(uint64_t seed, int64_t version, size_t item) {
  return completion_seed(completion_seed(seed, static_cast<int32_t>(version)),
                         static_cast<int32_t>(item));
}

} // namespace

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (k > n || k <= 0)
    return 0;
  if (n - c < k)
    return 1;
  // 1 - prod_{i = n-c+1}^{n} (1 - k / i): C(n-c, k) / C(n, k) without big numbers.
  double fail = 1;
  for (int64_t i = n - c + 1; i <= n; ++i)
    fail *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1 - fail;
}

eval_round::eval_round(const std::vector<eval_item>& items, eval_plan plan, int64_t version,
                       uint64_t seed, size_t batch_rows, eval_answer_check check)
  : items_(items), plan_(plan), version_(version), seed_(seed),
    batch_rows_(batch_rows < 1 ? 1 : batch_rows), check_(std::move(check)) {
  if (plan_.eval) {
    greedy_ok_.assign(items_.size(), 0);
    pass_correct_.assign(items_.size(), 0);
    for (size_t i = 0; i < items_.size(); ++i)
      rows_.push_back({row_kind::greedy, i, 0});
    for (size_t i = 0; i < items_.size(); ++i)
      for (int32_t j = 0; j < plan_.draws(); ++j)
        rows_.push_back({row_kind::pass, i, j});
  }
  const auto samples = std::min<size_t>(static_cast<size_t>(std::max(plan_.samples, 0)),
                                        items_.size());
  for (size_t i = 0; i < samples; ++i)
    rows_.push_back({row_kind::sample, i, 0});
  // Jobs never mix greedy and sampled rows: count each part's batches.
  const size_t greedy = plan_.eval ? items_.size() : 0;
  jobs_ = (greedy + batch_rows_ - 1) / batch_rows_
          + (rows_.size() - greedy + batch_rows_ - 1) / batch_rows_;
}

std::optional<decode_job> eval_round::next() {
  if (job_out_ || next_row_ >= rows_.size())
    return std::nullopt;
  decode_job job;
  job.greedy = rows_[next_row_].kind == row_kind::greedy;
  out_.clear();
  while (next_row_ < rows_.size() && out_.size() < batch_rows_
         && (rows_[next_row_].kind == row_kind::greedy) == job.greedy) {
    const auto& r = rows_[next_row_++];
    out_.push_back(r);
    job.prompts.push_back(items_[r.item].prompt);
    // The pass@k and sample rows of an item use different seed indices.
    const int32_t index = r.kind == row_kind::sample ? plan_.draws() + r.index : r.index;
    job.seeds.push_back(job.greedy ? 0 : completion_seed(item_seed(seed_, version_, r.item), index));
  }
  job_out_ = true;
  return job;
}

caf::error eval_round::record(std::vector<generated_sequence> answers) {
  if (!job_out_)
    return make_error(errc::invalid_argument, "eval round: no job is out");
  if (answers.size() != out_.size()) {
    next_row_ = rows_.size(); // the round cannot be completed: end it
    job_out_ = false;
    return make_error(errc::backend_failure, "eval round: " + std::to_string(answers.size())
                                               + " completions for "
                                               + std::to_string(out_.size()) + " prompts");
  }
  for (size_t i = 0; i < answers.size(); ++i) {
    const auto& r = out_[i];
    if (r.kind == row_kind::sample) {
      samples_.push_back({r.item, std::move(answers[i])});
      continue;
    }
    const bool ok = check_(answers[i].tokens, items_[r.item].answer);
    if (r.kind == row_kind::greedy)
      greedy_ok_[r.item] = ok ? 1 : 0;
    else
      pass_correct_[r.item] += ok ? 1 : 0;
  }
  job_out_ = false;
  return caf::none;
}

bool eval_round::done() const { return !job_out_ && next_row_ >= rows_.size(); }

eval_figures eval_round::figures() const {
  eval_figures f;
  f.version = version_;
  f.problems = static_cast<int64_t>(items_.size());
  f.k = plan_.k;
  f.n = plan_.draws();
  if (items_.empty())
    return f;
  double greedy = 0, pass = 0, sampled = 0;
  for (size_t i = 0; i < items_.size(); ++i) {
    greedy += greedy_ok_[i];
    pass += pass_at_k(f.n, pass_correct_[i], plan_.k);
    sampled += static_cast<double>(pass_correct_[i]);
  }
  const auto items = static_cast<double>(items_.size());
  f.greedy_acc = greedy / items;
  f.pass_at_k = pass / items;
  f.sampled_acc = sampled / (items * f.n);
  return f;
}

// --- schedule -------------------------------------------------------------------

eval_schedule::eval_schedule(int32_t every, int32_t samples_every, int32_t k,
                             int32_t samples_count, int64_t resume_step)
  : every_(every), samples_every_(samples_every), k_(k), samples_count_(samples_count),
    next_eval_(resume_step == 0 ? 0 : after(resume_step, every)),
    next_samples_(resume_step == 0 ? 0 : after(resume_step, samples_every)) {}

int64_t eval_schedule::after(int64_t version, int32_t every) {
  return every <= 0 ? INT64_MAX : (version / every + 1) * every;
}

eval_plan eval_schedule::due(int64_t version) const {
  eval_plan p;
  p.k = k_;
  p.eval = every_ > 0 && version >= next_eval_;
  p.samples = samples_every_ > 0 && version >= next_samples_ ? samples_count_ : 0;
  return p;
}

void eval_schedule::ran(int64_t version, const eval_plan& plan) {
  if (plan.eval) {
    next_eval_ = after(version, every_);
    last_eval_ = version;
  }
  if (plan.samples > 0) {
    next_samples_ = after(version, samples_every_);
    last_samples_ = version;
  }
}

eval_plan eval_schedule::final_plan(int64_t version) const {
  eval_plan p;
  p.k = k_;
  p.eval = every_ > 0 && last_eval_ != version;
  p.samples = samples_every_ > 0 && last_samples_ != version ? samples_count_ : 0;
  return p;
}

} // namespace tandem
