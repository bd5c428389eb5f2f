// learner_rank.cpp: a remote learner rank's handlers (see the header).
#include "actors/learner_rank.hpp"

#include <exception>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "runtime/error.hpp"

namespace tandem {

namespace {

/// `job()`'s result, an escaping exception as errc::backend_failure.
template <class T, class Job>
caf::result<T> guarded(Job&& job) {
  try {
    caf::expected<T> res = job();
    if (!res)
      return res.error();
    return std::move(*res);
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("learner rank threw: ") + e.what());
  } catch (...) {
    return make_error(errc::backend_failure, "learner rank threw a non-standard exception");
  }
}

/// The version after `err`-free work, or `err`.
caf::expected<int64_t> version_or(const caf::error& err, const training_backend& be) {
  if (err)
    return err;
  return be.version();
}

} // namespace

void register_learner_rank_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<train_sequence>("tandem.train_sequence");
  cfg.add_message_type<std::vector<train_sequence>>("tandem.train_sequences");
}

caf::behavior learner_rank_actor(caf::event_based_actor*,
                                 std::shared_ptr<training_backend> backend) {
  return {
    [backend](rank_train_atom, const std::vector<train_sequence>& batch) {
      return guarded<int64_t>([&]() -> caf::expected<int64_t> {
        auto res = backend->train(batch);
        return version_or(res ? caf::error{} : res.error(), *backend);
      });
    },
    [backend](rank_import_atom, const std::vector<char>& weights, int64_t version) {
      return guarded<int64_t>(
        [&] { return version_or(backend->import_weights(weights, version), *backend); });
    },
    [backend](rank_restore_atom, const std::vector<char>& state) {
      return guarded<int64_t>(
        [&] { return version_or(backend->import_state(state), *backend); });
    },
    [backend](rank_state_atom) {
      return guarded<std::vector<char>>(
        [&]() -> caf::expected<std::vector<char>> { return backend->export_state(); });
    },
    [backend](rank_weights_atom) {
      return guarded<std::vector<char>>(
        [&]() -> caf::expected<std::vector<char>> { return backend->export_weights(); });
    },
  };
}

caf::actor spawn_learner_rank(caf::actor_system& sys, std::shared_ptr<training_backend> backend) {
  return sys.spawn<caf::detached>(learner_rank_actor, std::move(backend));
}

} // namespace tandem
