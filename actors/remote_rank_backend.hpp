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
// Every peer_down also goes to options.on_gone (see there).
// train() returns no statistics (rank 0's are the whole step's, and
// data_parallel_backend reads only rank 0's); version() is the version the
// rank reported last. export_weights() and export_state() are empty on any
// failure (the interface's convention).
//
// Joining: in a run the rank's actor exists only once its worker process
// joined the head, after the head built its learner (and, resuming, imported
// the checkpoint into it). The proxy then looks its actor up in a
// rank_directory that the controller fills (learner_rank_atom). Until the
// actor is there, import_weights and import_state are kept (the newest of
// each, in call order) and replayed to it before its first job; every other
// call waits for it at most `join_timeout` (timeouts.connect_s), then fails
// with errc::peer_down ("never joined").
//
// Thread safety: one calling thread at a time (data_parallel_backend's
// worker for this rank); each call uses its own scoped_actor. The directory
// is shared between threads and locks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/backends.hpp"

namespace tandem {

/// The actors of the learner ranks that joined, by rank. A rank that joins
/// again (its worker restarted) replaces its entry.
class rank_directory {
public:
  void put(int rank, caf::actor handle);
  /// The actor of `rank`, waiting for it until `until`; null if none came.
  caf::actor get(int rank, std::chrono::steady_clock::time_point until) const;

private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<int, caf::actor> ranks_; // at most learner.ranks entries
};

struct remote_rank_options {
  int rank = 1;
  /// Longest wait for one answer. The head uses timeouts.train_s: the join
  /// (train_s / 3 after rank 0) and the rank's collective deadlines come
  /// first; this bounds a rank that hangs outside any collective.
  std::chrono::milliseconds timeout{300000};
  /// How long a call waits for the rank to join (directory only).
  std::chrono::milliseconds join_timeout{30000};
  /// Called (on the calling thread) with each errc::peer_down this proxy
  /// finds: the head hands it to rank 0's collective, which would otherwise
  /// wait for the dead rank's input until its own deadline.
  std::function<void(const caf::error&)> on_gone;
};

class remote_rank_backend final : public training_backend {
public:
  /// `rank_actor` is a learner_rank_actor (local or remote).
  remote_rank_backend(caf::actor_system& sys, caf::actor rank_actor, remote_rank_options opts);

  /// The rank's actor comes from `directory` once its worker joined.
  remote_rank_backend(caf::actor_system& sys, std::shared_ptr<const rank_directory> directory,
                      remote_rank_options opts);

  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override;
  std::vector<char> export_weights() const override;
  int64_t version() const override { return version_.load(); }
  std::vector<char> export_state() const override;
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override;
  caf::error import_state(const std::vector<char>& state) override;


private:
  /// Sends `xs` as one request and waits for an int64 version.
  template <class... Ts>
  caf::error ask_version(const char* what, Ts&&... xs);
  /// Sends `xs` as one request and waits for bytes (empty on failure).
  template <class... Ts>
  std::vector<char> ask_bytes(Ts&&... xs) const;
  caf::error translate(const caf::error& err, const char* what) const;
  /// `err`, after handing a peer_down to options.on_gone.
  caf::error gone(caf::error err) const;
  /// The rank's actor: known, or from the directory (replaying the kept
  /// imports first); null with `err` set when it did not join in time.
  caf::actor resolve(caf::error& err) const;
  bool waiting_to_join() const;

  caf::actor_system& sys_;
  std::shared_ptr<const rank_directory> directory_; // null: actor_ given
  mutable caf::actor actor_;
  // Imports made before the rank joined, replayed in this order.
  mutable std::optional<std::pair<std::vector<char>, int64_t>> kept_weights_;
  mutable std::optional<std::vector<char>> kept_state_;
  bool state_after_weights_ = true; // replay order of the kept imports
  remote_rank_options opts_;
  std::atomic<int64_t> version_{0};
};

} // namespace tandem
