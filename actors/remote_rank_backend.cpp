// remote_rank_backend.cpp: requests to a remote learner rank (see the header).
#include "actors/remote_rank_backend.hpp"

#include <string>
#include <utility>

#include <caf/all.hpp>

#include "actors/learner_rank.hpp"
#include "runtime/error.hpp"

namespace tandem {

void rank_directory::put(int rank, caf::actor handle) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    ranks_[rank] = std::move(handle);
  }
  changed_.notify_all();
}

caf::actor rank_directory::get(int rank, std::chrono::steady_clock::time_point until) const {
  std::unique_lock<std::mutex> lock{mutex_};
  changed_.wait_until(lock, until, [&] { return ranks_.count(rank) > 0; });
  auto i = ranks_.find(rank);
  return i == ranks_.end() ? caf::actor{} : i->second;
}

remote_rank_backend::remote_rank_backend(caf::actor_system& sys, caf::actor rank_actor,
                                         remote_rank_options opts)
  : sys_(sys), actor_(std::move(rank_actor)), opts_(opts) {}

remote_rank_backend::remote_rank_backend(caf::actor_system& sys,
                                         std::shared_ptr<const rank_directory> directory,
                                         remote_rank_options opts)
  : sys_(sys), directory_(std::move(directory)), opts_(opts) {}

caf::error remote_rank_backend::translate(const caf::error& err, const char* what) const {
  if (err.category() == error_category)
    return err; // the rank's own error, code and text kept
  if (err == caf::sec::request_timeout)
    return make_error(errc::collective_timeout,
                      std::string("no answer to ") + what + " within "
                        + std::to_string(opts_.timeout.count()) + " ms");
  // A request to a dead actor bounces (request_receiver_down); one to a
  // node the middleman lost has no route; an exit reason names why it died.
  if (err == caf::sec::request_receiver_down || err == caf::sec::no_route_to_receiving_node
      || err == caf::sec::cannot_forward_to_invalid_actor
      || err.category() == caf::atom("exit"))
    return make_error(errc::peer_down, std::string(what) + ": its process is gone ("
                                         + sys_.render(err) + ")");
  return make_error(errc::backend_failure, std::string(what) + ": " + sys_.render(err));
}

namespace {

/// One request to `target`, answered, failed or given up by `timeout`.
/// A request alone would not do: a message sent into the connection of a
/// process that just died is lost without a bounce, and its requester would
/// wait for the whole timeout. So a helper actor monitors `target` while it
/// waits for the response and hands whichever comes first (the answer, an
/// error, the target's down message) to this thread's scoped actor.
template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const caf::actor& target, caf::timespan timeout,
                     const Ts&... xs) {
  caf::scoped_actor self{sys};
  auto waiter = caf::actor_cast<caf::actor>(self);
  auto helper = sys.spawn([=](caf::event_based_actor* h) -> caf::behavior {
    h->set_down_handler([=](caf::down_msg& dm) {
      h->send(waiter, std::move(dm));
      h->quit();
    });
    h->monitor(target);
    h->request(target, caf::infinite, xs...)
      .then([=](T& x) { h->send(waiter, std::move(x)); h->quit(); },
            [=](caf::error& err) { h->send(waiter, std::move(err)); h->quit(); });
    return {[](caf::ok_atom) {}}; // alive until it quit()s
  });
  caf::expected<T> out = make_error(errc::collective_timeout, "");
  bool timed_out = false;
  self->receive([&](T& x) { out = std::move(x); },
                [&](caf::error& err) { out = std::move(err); },
                [&](caf::down_msg& dm) {
                  out = dm.reason ? dm.reason : caf::error{caf::sec::request_receiver_down};
                },
                caf::after(timeout) >> [&] { timed_out = true; });
  if (timed_out) {
    caf::anon_send_exit(helper, caf::exit_reason::kill);
    return caf::error{caf::sec::request_timeout};
  }
  return out;
}

} // namespace

caf::error remote_rank_backend::gone(caf::error err) const {
  if (is(err, errc::peer_down) && opts_.on_gone)
    opts_.on_gone(err);
  return err;
}

caf::actor remote_rank_backend::resolve(caf::error& err) const {
  if (actor_ || !directory_)
    return actor_;
  auto a = directory_->get(opts_.rank, std::chrono::steady_clock::now() + opts_.join_timeout);
  if (!a) {
    err = make_error(errc::peer_down, "never joined within "
                                        + std::to_string(opts_.join_timeout.count())
                                        + " ms (its worker process did not come up)");
    return a;
  }
  // Bring the fresh rank to the imported state before its first job.
  auto replay_weights = [&]() -> caf::error {
    if (!kept_weights_)
      return caf::none;
    auto v = ask<int64_t>(sys_, a, caf::timespan{opts_.timeout}, rank_import_atom::value,
                          kept_weights_->first, kept_weights_->second);
    return v ? caf::error{} : translate(v.error(), "import_weights (on joining)");
  };
  auto replay_state = [&]() -> caf::error {
    if (!kept_state_)
      return caf::none;
    auto v = ask<int64_t>(sys_, a, caf::timespan{opts_.timeout}, rank_restore_atom::value,
                          *kept_state_);
    return v ? caf::error{} : translate(v.error(), "import_state (on joining)");
  };
  err = state_after_weights_ ? replay_weights() : replay_state();
  if (!err)
    err = state_after_weights_ ? replay_state() : replay_weights();
  if (err)
    return caf::actor{};
  kept_weights_.reset();
  kept_state_.reset();
  actor_ = a;
  return a;
}

template <class... Ts>
caf::error remote_rank_backend::ask_version(const char* what, Ts&&... xs) {
  caf::error err;
  auto a = resolve(err);
  if (!a)
    return gone(err ? err : make_error(errc::peer_down, std::string(what) + ": no actor"));
  auto v = ask<int64_t>(sys_, a, caf::timespan{opts_.timeout}, xs...);
  if (!v)
    return gone(translate(v.error(), what));
  version_ = *v;
  return caf::none;
}

template <class... Ts>
std::vector<char> remote_rank_backend::ask_bytes(Ts&&... xs) const {
  caf::error err;
  auto a = resolve(err);
  if (!a) {
    gone(err);
    return {};
  }
  auto bytes = ask<std::vector<char>>(sys_, a, caf::timespan{opts_.timeout}, xs...);
  if (!bytes)
    gone(translate(bytes.error(), "export"));
  return bytes ? std::move(*bytes) : std::vector<char>{}; // empty: the interface's failure
}

caf::expected<std::vector<train_step_stats>>
remote_rank_backend::train(const std::vector<train_sequence>& batch) {
  if (auto err = ask_version("train", rank_train_atom::value, batch))
    return err;
  return std::vector<train_step_stats>{};
}

std::vector<char> remote_rank_backend::export_weights() const {
  return ask_bytes(rank_weights_atom::value);
}

std::vector<char> remote_rank_backend::export_state() const {
  return ask_bytes(rank_state_atom::value);
}

// Before the rank joined: kept for it (see the header).
bool remote_rank_backend::waiting_to_join() const {
  return !actor_ && directory_ && !directory_->get(opts_.rank, {});
}

caf::error remote_rank_backend::import_weights(const std::vector<char>& blob, int64_t version) {
  if (waiting_to_join()) {
    kept_weights_.emplace(blob, version);
    state_after_weights_ = !kept_state_.has_value();
    version_ = version;
    return caf::none;
  }
  return ask_version("import_weights", rank_import_atom::value, blob, version);
}

caf::error remote_rank_backend::import_state(const std::vector<char>& state) {
  if (waiting_to_join()) {
    kept_state_ = state;
    state_after_weights_ = kept_weights_.has_value();
    return caf::none;
  }
  return ask_version("import_state", rank_restore_atom::value, state);
}

} // namespace tandem
