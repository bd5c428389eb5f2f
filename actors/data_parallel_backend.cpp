// data_parallel_backend.cpp: N learner ranks behind one training_backend
// (see the header for threads, deadlines and states).
#include "actors/data_parallel_backend.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "runtime/error.hpp"

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;

/// `err` with "learner rank R: " before its text, its code kept (tandem
/// errors) or as errc::backend_failure (others).
caf::error name_rank(const caf::error& err, size_t rank) {
  const auto prefix = "learner rank " + std::to_string(rank) + ": ";
  if (err.category() != error_category)
    return make_error(errc::backend_failure, prefix + describe(err));
  const auto& ctx = err.context();
  std::string text;
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    text = ctx.get_as<std::string>(0);
  else
    text = to_string(static_cast<errc>(err.code()));
  if (text.rfind(prefix, 0) == 0) // the rank named itself already (learner_core)
    return make_error(static_cast<errc>(err.code()), text);
  return make_error(static_cast<errc>(err.code()), prefix + text);
}

/// Runs `job`, turning an escaping exception into errc::backend_failure.
template <class Job>
caf::error run_guarded(const Job& job) {
  try {
    return job();
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("threw: ") + e.what());
  } catch (...) {
    return make_error(errc::backend_failure, "threw a non-standard exception");
  }
}

/// Whether the ranks are still in step after a call that failed: every rank
/// refused the same way (errc::numeric_failure skips a step on every rank
/// alike; a refused import changes nothing) and no collective failed.
bool ranks_agree(const std::vector<caf::error>& errors) {
  for (auto code : {errc::collective_timeout, errc::peer_down, errc::backend_failure,
                    errc::not_ready})
    if (is(errors[0], code))
      return false;
  for (auto& e : errors)
    if (!e || e.category() != errors[0].category() || e.code() != errors[0].code())
      return false;
  return true;
}

} // namespace

// One rank's persistent thread. States: idle --submit--> busy --job done,
// result taken by await--> idle; stop() ends the loop once the current job
// (if any) returned.
class data_parallel_backend::rank_worker {
public:
  explicit rank_worker(std::shared_ptr<training_backend> backend)
    : backend_(std::move(backend)), thread_([this] { loop(); }) {}

  ~rank_worker() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join(); // a running job ends by its own collective deadline
  }

  /// Precondition: idle (the previous job's result was taken).
  void submit(rank_job job) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      job_ = std::move(job);
    }
    changed_.notify_all();
  }

  /// The job's result, or nullopt if it has not returned by `until`.
  std::optional<caf::error> await(clock_type::time_point until) {
    std::unique_lock<std::mutex> lock{mutex_};
    if (!changed_.wait_until(lock, until, [this] { return result_.has_value(); }))
      return std::nullopt;
    auto out = std::move(result_);
    result_.reset();
    return out;
  }

private:
  void loop() {
    std::unique_lock<std::mutex> lock{mutex_};
    for (;;) {
      // An idle worker waits for its next job or stop_ with no deadline: it
      // holds up nobody (callers wait in await(), with theirs), and the
      // destructor sets stop_.
      changed_.wait(lock, [this] { return stop_ || job_.has_value(); });
      if (!job_)
        return; // stop_ and nothing queued
      auto job = std::move(*job_);
      job_.reset();
      lock.unlock();
      auto err = run_guarded([&] { return job(*backend_); });
      lock.lock();
      result_ = std::move(err);
      changed_.notify_all();
    }
  }

  std::shared_ptr<training_backend> backend_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<rank_job> job_;        // the one-slot queue (see the header)
  std::optional<caf::error> result_;   // the last job's, until await takes it
  bool stop_ = false;
  std::thread thread_;                 // last: starts once the rest exists
};

caf::expected<std::unique_ptr<data_parallel_backend>>
data_parallel_backend::make(std::vector<std::shared_ptr<training_backend>> ranks,
                            data_parallel_options options) {
  if (ranks.size() < 2)
    return make_error(errc::invalid_argument, "a data-parallel learner needs >= 2 ranks, got "
                                                + std::to_string(ranks.size()));
  for (size_t r = 0; r < ranks.size(); ++r)
    if (!ranks[r])
      return make_error(errc::invalid_argument, "learner rank " + std::to_string(r) + " is null");
  if (options.join_timeout.count() <= 0)
    return make_error(errc::invalid_argument, "data-parallel learner: join_timeout must be > 0");
  return std::unique_ptr<data_parallel_backend>{
    new data_parallel_backend(std::move(ranks), options)};
}

data_parallel_backend::data_parallel_backend(
  std::vector<std::shared_ptr<training_backend>> ranks, data_parallel_options options)
  : ranks_(std::move(ranks)), options_(options) {
  for (size_t r = 1; r < ranks_.size(); ++r)
    workers_.push_back(std::make_unique<rank_worker>(ranks_[r]));
}

data_parallel_backend::~data_parallel_backend() = default; // workers stop and join

caf::error data_parallel_backend::refuse_if_closed(const char* what) const {
  if (!closed_by_)
    return caf::none;
  return make_error(errc::not_ready, std::string("the data-parallel learner is closed (")
                                       + describe(closed_by_) + "); " + what + " refused");
}

caf::error data_parallel_backend::on_every_rank(const rank_job& job, const char* what) const {
  if (auto err = refuse_if_closed(what))
    return err;
  for (auto& w : workers_)
    w->submit(job);
  std::vector<caf::error> errors(ranks_.size());
  errors[0] = run_guarded([&] { return job(*ranks_[0]); });
  const auto until = clock_type::now() + options_.join_timeout;
  for (size_t r = 1; r < ranks_.size(); ++r) {
    auto res = workers_[r - 1]->await(until);
    errors[r] = res ? std::move(*res)
                    : make_error(errc::collective_timeout,
                                 std::string(what) + " still running "
                                   + std::to_string(options_.join_timeout.count())
                                   + " ms after rank 0 returned");
    if (!res) // the worker still runs its job: nothing may reach it again
      closed_by_ = name_rank(errors[r], r);
  }
  size_t first = ranks_.size();
  for (size_t r = 0; r < errors.size() && first == ranks_.size(); ++r)
    if (errors[r])
      first = r;
  if (first == ranks_.size())
    return caf::none;
  auto err = name_rank(errors[first], first);
  if (!closed_by_ && !ranks_agree(errors))
    closed_by_ = err;
  return err;
}

caf::expected<std::vector<train_step_stats>>
data_parallel_backend::train(const std::vector<train_sequence>& batch) {
  // Workers get their own reference to a copy: after a join timeout a worker
  // may still read it when this call has returned.
  auto shared = std::make_shared<const std::vector<train_sequence>>(batch);
  std::vector<train_step_stats> stats;
  auto job = [shared, &stats, first = ranks_[0].get()](training_backend& rank) -> caf::error {
    auto res = rank.train(*shared);
    if (!res)
      return res.error();
    if (&rank == first) // rank 0 runs on this thread, inside this call
      stats = std::move(*res);
    return caf::none;
  };
  if (auto err = on_every_rank(job, "train"))
    return err;
  return stats;
}

std::vector<char> data_parallel_backend::export_weights() const {
  return ranks_[0]->export_weights();
}

int64_t data_parallel_backend::version() const {
  return ranks_[0]->version();
}

void data_parallel_backend::set_phase_hook(std::function<void(learner_phase)> hook) {
  ranks_[0]->set_phase_hook(std::move(hook));
}

std::vector<char> data_parallel_backend::export_state() const {
  if (refuse_if_closed("export_state"))
    return {};
  if (!options_.collective_export_state)
    return ranks_[0]->export_state();
  std::vector<char> state;
  auto job = [&state, first = ranks_[0].get()](training_backend& rank) -> caf::error {
    auto blob = rank.export_state();
    if (blob.empty())
      return make_error(errc::backend_failure, "export_state failed");
    if (&rank == first)
      state = std::move(blob);
    return caf::none;
  };
  if (on_every_rank(job, "export_state"))
    return {};
  return state;
}

caf::error data_parallel_backend::import_weights(const std::vector<char>& blob,
                                                 int64_t version) {
  auto shared = std::make_shared<const std::vector<char>>(blob);
  return on_every_rank(
    [shared, version](training_backend& rank) { return rank.import_weights(*shared, version); },
    "import_weights");
}

caf::error data_parallel_backend::import_state(const std::vector<char>& state) {
  auto shared = std::make_shared<const std::vector<char>>(state);
  return on_every_rank([shared](training_backend& rank) { return rank.import_state(*shared); },
                       "import_state");
}

caf::expected<flat_weights> data_parallel_backend::device_weights() {
  return ranks_[0]->device_weights();
}

} // namespace tandem
