// remote_rank_backend.hpp: the head's handle on a learner rank that lives in
// another process (actors/learner_rank.hpp): a training_backend whose every
// call is one request to that actor, answered or failed by a deadline. The
// head's data_parallel_backend holds it as rank r like any local rank, so the
// rules of the in-process learner hold unchanged: every rank gets each job,
// the join waits at most join_timeout after rank 0 returned, and a rank's
// error closes the backend.
//
// Deadlines and errors (the text never repeats "learner rank R", which
// data_parallel_backend puts in front):
//   no answer within `timeout`      errc::collective_timeout
//   the actor or its process gone   errc::peer_down ("its process is gone"),
//                                   as soon as CAF knows (the middleman's
//                                   heartbeats: about 2 s for a SIGKILLed
//                                   process, wiring/actor_system.cpp)
//   the rank's own error            replied with its code and text
// train() returns no statistics (rank 0's are the whole step's, and
// data_parallel_backend reads only rank 0's); version() is the version the
// rank reported last. export_weights() and export_state() are empty on any
// failure (the interface's convention).
//
// Thread safety: one calling thread at a time (data_parallel_backend's
// worker for this rank); each call uses its own scoped_actor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/backends.hpp"

namespace tandem {

struct remote_rank_options {
  int rank = 1;
  /// Longest wait for one answer. The head uses timeouts.train_s: the join
  /// (train_s / 3 after rank 0) and the rank's collective deadlines come
  /// first; this bounds a rank that hangs outside any collective.
  std::chrono::milliseconds timeout{300000};
};

class remote_rank_backend final : public training_backend {
public:
  /// `rank_actor` is a learner_rank_actor (local or remote).
  remote_rank_backend(caf::actor_system& sys, caf::actor rank_actor, remote_rank_options opts);

  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override;
  std::vector<char> export_weights() const override;
  int64_t version() const override { return version_.load(); }
  std::vector<char> export_state() const override;
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override;
  caf::error import_state(const std::vector<char>& state) override;

  const caf::actor& handle() const { return actor_; }

private:
  /// Sends `xs` as one request and waits for an int64 version.
  template <class... Ts>
  caf::error ask_version(const char* what, Ts&&... xs);
  /// Sends `xs` as one request and waits for bytes (empty on failure).
  template <class... Ts>
  std::vector<char> ask_bytes(Ts&&... xs) const;
  caf::error translate(const caf::error& err, const char* what) const;

  caf::actor_system& sys_;
  caf::actor actor_;
  remote_rank_options opts_;
  std::atomic<int64_t> version_{0};
};

} // namespace tandem
