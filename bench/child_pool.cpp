// child_pool.cpp: the job pool of child_pool.hpp.
#include "bench/child_pool.hpp"

#include <algorithm>

#include "runtime/error.hpp"

namespace tandem {

namespace {

double seconds_between(child_pool::clock::time_point from, child_pool::clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

} // namespace

child_pool::child_pool(process_launcher& launcher, size_t jobs, int32_t parallel,
                       clock::duration deadline, std::chrono::milliseconds grace, argv_fn argv)
  : launcher_(launcher), jobs_(jobs), parallel_(std::max(1, parallel)), deadline_(deadline),
    grace_(grace), argv_(std::move(argv)) {
}

child_pool::~child_pool() {
  for (auto& l : running_)
    l.child->stop(grace_);
}

std::vector<child_pool::result> child_pool::poll(clock::time_point now) {
  std::vector<result> out;
  reap(now, out);
  start(now, out);
  return out;
}

void child_pool::reap(clock::time_point now, std::vector<result>& out) {
  for (auto it = running_.begin(); it != running_.end();) {
    result r;
    r.job = it->job;
    r.wall_s = seconds_between(it->started, now);
    if (!it->child->running()) {
      r.exit_code = it->child->exit_code();
    } else if (now - it->started >= deadline_) {
      it->child->stop(grace_);
      r.how = result::end::timed_out;
    } else {
      ++it;
      continue;
    }
    out.push_back(std::move(r));
    it = running_.erase(it);
  }
}

int32_t child_pool::free_slot() const {
  for (int32_t s = 0; s < parallel_; ++s)
    if (std::none_of(running_.begin(), running_.end(), [s](const live& l) { return l.slot == s; }))
      return s;
  return -1;
}

void child_pool::start(clock::time_point now, std::vector<result>& out) {
  while (next_ < jobs_ && static_cast<int32_t>(running_.size()) < parallel_) {
    auto job = next_++;
    auto slot = free_slot();
    auto child = launcher_.launch(argv_(job, slot));
    if (!child) {
      result r;
      r.job = job;
      r.how = result::end::not_started;
      r.error = describe(child.error());
      out.push_back(std::move(r));
      continue;
    }
    running_.push_back(live{job, slot, now, std::move(*child)});
  }
}

} // namespace tandem
