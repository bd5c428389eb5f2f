// data_parallel_backend.hpp: a training_backend made of N learner ranks in
// this process (learner.ranks, docs/data-parallel.md): rank r is any
// training_backend built as rank r of N (torch: a learner_core with its
// learner_settings::rank and a ready collective), on device r of the
// learner's placement.
//
// Threads: rank 0 runs on the caller's thread (the learner actor's); ranks
// 1..N-1 each on a persistent worker thread of their own. A call that touches
// every rank (train, export_state with zero_stage > 0, import_*) hands one
// job to each worker, runs rank 0 inline, then joins the workers. Each
// worker's queue is one slot (a job is handed over only when the previous one
// was joined): the ranks move in lockstep through collective calls, so a
// deeper queue would only hide a rank that fell behind.
//
// Deadlines: every rank's collective calls carry their own deadline
// (learner_settings::collective_timeout_ms), so a rank waiting on a dead peer
// returns a typed error on its own. The join waits at most `join_timeout`
// after rank 0 finished (all ranks run the same sequence of collectives, so
// the others finish close behind it); a rank still running then fails the
// call with errc::collective_timeout naming it.
//
// States:
//   open   --(every rank returned: all ok, or all failed with the same
//             code that is no collective failure, e.g. errc::numeric_failure,
//             which skips the step on every rank alike, or a refused
//             import, which changes no rank)--> open
//   open   --(a collective_timeout, peer_down, backend_failure or not_ready
//             error, a thrown exception, a join timeout, or ranks that
//             disagree)--> closed
//   closed: train, export_state and import_* return errc::not_ready naming
//           the rank and the error that closed it (export_state: empty);
//           version, export_weights and device_weights still read rank 0.
// A closed backend is not reused: the run stops or resumes from a
// checkpoint with fresh ranks (the collective of a failed rank is aborted).
//
// Errors: a rank's error comes back with its text prefixed "learner rank R: "
// and its code kept; a rank that throws becomes errc::backend_failure (no
// exception leaves a worker thread).
//
// Shutdown: the destructor stops every worker and joins it. A worker in the
// middle of a job finishes it first, which its collective deadline bounds;
// no thread is detached.
//
// Thread safety: like every training_backend, one calling thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/backends.hpp"

namespace tandem {

struct data_parallel_options {
  /// How long the join waits for ranks 1..N-1 after rank 0 returned.
  std::chrono::milliseconds join_timeout{300000};
  /// With zero_stage > 0 export_state() gathers the sharded AdamW moments:
  /// a collective call on every rank. Otherwise rank 0 alone answers.
  bool collective_export_state = false;
};

class data_parallel_backend final : public training_backend {
public:
  class rank_worker; // one worker thread (data_parallel_backend.cpp)

  /// `ranks[r]` is rank r (at least 2, none null; each ready to train as
  /// rank r of ranks.size()).
  static caf::expected<std::unique_ptr<data_parallel_backend>>
  make(std::vector<std::shared_ptr<training_backend>> ranks, data_parallel_options options);

  ~data_parallel_backend() override;

  data_parallel_backend(const data_parallel_backend&) = delete;
  data_parallel_backend& operator=(const data_parallel_backend&) = delete;

  /// Every rank trains on the whole batch (each on its slice); rank 0's
  /// statistics, which are those of the whole step on every rank.
  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override;

  std::vector<char> export_weights() const override;
  int64_t version() const override;
  void set_phase_hook(std::function<void(learner_phase)> hook) override;
  std::vector<char> export_state() const override;
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override;
  caf::error import_state(const std::vector<char>& state) override;
  caf::expected<flat_weights> device_weights() override;

  int ranks() const { return static_cast<int>(ranks_.size()); }

  /// Null while open; the error that closed the backend otherwise.
  const caf::error& closed_by() const { return closed_by_; }

private:
  using rank_job = std::function<caf::error(training_backend&)>;

  data_parallel_backend(std::vector<std::shared_ptr<training_backend>> ranks,
                        data_parallel_options options);

  /// Runs `job` on every rank (rank 0 inline), joins, and returns the first
  /// error by rank; closes the backend unless every rank agreed.
  caf::error on_every_rank(const rank_job& job, const char* what) const;
  caf::error refuse_if_closed(const char* what) const;

  std::vector<std::shared_ptr<training_backend>> ranks_;
  std::vector<std::unique_ptr<rank_worker>> workers_; // workers_[r - 1] drives rank r
  data_parallel_options options_;
  mutable caf::error closed_by_;
};

} // namespace tandem
