// thread_group_collective.cpp: see thread_group_collective.hpp.
#include "runtime/nccl/thread_group_collective.hpp"

#include <algorithm>
#include <cstring>

#include "runtime/error.hpp"

namespace tandem::nccl {

namespace {

std::string op_name(reduce_op kind, uint64_t k) {
  return std::string(to_string(kind)) + " #" + std::to_string(k);
}

} // namespace

// -- thread_group -------------------------------------------------------------

thread_group::thread_group(int ranks, death_mode mode)
  : mode_(mode), dead_(static_cast<size_t>(std::max(ranks, 1)), false),
    die_at_(dead_.size(), UINT64_MAX), posted_(dead_.size(), 0) {
  for (int r = 0; r < static_cast<int>(dead_.size()); ++r)
    members_.push_back(std::make_unique<thread_group_collective>(*this, r));
}

thread_group::~thread_group() = default;

thread_group_collective& thread_group::member(int r) {
  return *members_.at(static_cast<size_t>(r));
}

std::shared_ptr<reduce_collective> thread_group::share(const std::shared_ptr<thread_group>& g,
                                                       int r) {
  // Aliasing constructor: the handle lives as long as the group does.
  return std::shared_ptr<reduce_collective>(g, &g->member(r));
}

void thread_group::kill(int r) {
  std::lock_guard<std::mutex> lock(mutex_);
  dead_.at(static_cast<size_t>(r)) = true;
  changed_.notify_all();
}

void thread_group::die_at(int r, uint64_t k) {
  std::lock_guard<std::mutex> lock(mutex_);
  die_at_.at(static_cast<size_t>(r)) = k;
}

uint64_t thread_group::completed_posts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return *std::min_element(posted_.begin(), posted_.end());
}

caf::error thread_group::post(int r, uint64_t k, reduce_op kind, float_span data) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto self = static_cast<size_t>(r);
  if (die_at_[self] == k) {
    dead_[self] = true;
    changed_.notify_all();
  }
  if (dead_[self])
    return make_error(errc::peer_down, "rank " + std::to_string(r) + " is dead ("
                                         + op_name(kind, k) + " not posted)");
  if (posted_[self] - *std::min_element(posted_.begin(), posted_.end()) >= max_pending)
    return make_error(errc::capacity_exceeded,
                      "rank " + std::to_string(r) + " is " + std::to_string(max_pending)
                        + " operations ahead of the slowest rank");
  auto [it, fresh] = ops_.try_emplace(k);
  auto& o = it->second;
  if (fresh) {
    o.kind = kind;
    o.count = data.count;
    o.first_rank = r;
    o.in.resize(dead_.size());
    o.posted.assign(dead_.size(), false);
    o.unread = static_cast<int>(dead_.size());
  } else if (o.kind != kind || o.count != data.count) {
    return make_error(errc::backend_failure,
                      "operation #" + std::to_string(k) + ": rank " + std::to_string(r)
                        + " posted " + to_string(kind) + " of " + std::to_string(data.count)
                        + " floats, rank " + std::to_string(o.first_rank) + " "
                        + to_string(o.kind) + " of " + std::to_string(o.count));
  }
  // all_gather needs only this rank's shard; the sums need the whole buffer.
  const size_t shard = data.count / dead_.size();
  const float* from = kind == reduce_op::all_gather ? data.data + self * shard : data.data;
  o.in[self].assign(from, from + (kind == reduce_op::all_gather ? shard : data.count));
  o.posted[self] = true;
  ++posted_[self];
  changed_.notify_all();
  return {};
}

int thread_group::missing_rank(const op& o) const {
  int missing = -1;
  for (size_t r = 0; r < o.posted.size(); ++r) {
    if (o.posted[r])
      continue;
    if (dead_[r])
      return static_cast<int>(r);
    if (missing < 0)
      missing = static_cast<int>(r);
  }
  return missing;
}

// Writes rank r's result of `o` into `data`; frees `o` after its last reader.
void thread_group::finish(int r, uint64_t k, op& o, float_span data) {
  const size_t n = o.in.size();
  const size_t shard = o.count / n;
  const auto self = static_cast<size_t>(r);
  switch (o.kind) {
    case reduce_op::all_reduce:
    case reduce_op::reduce_scatter: {
      const size_t lo = o.kind == reduce_op::all_reduce ? 0 : self * shard;
      const size_t hi = o.kind == reduce_op::all_reduce ? o.count : lo + shard;
      for (size_t i = lo; i < hi; ++i) {
        float sum = o.in[0][i];
        for (size_t q = 1; q < n; ++q)
          sum += o.in[q][i];
        data.data[i] = sum;
      }
      break;
    }
    case reduce_op::all_gather:
      for (size_t q = 0; q < n; ++q)
        if (!o.in[q].empty())
          std::memcpy(data.data + q * shard, o.in[q].data(), shard * sizeof(float));
      break;
  }
  if (--o.unread == 0)
    ops_.erase(k);
}

caf::error thread_group::wait(int r, uint64_t k, float_span data, time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = ops_.find(k);
  if (it == ops_.end())
    return make_error(errc::backend_failure, "operation #" + std::to_string(k) + " is gone");
  auto& o = it->second;
  auto settled = [&] {
    const int m = missing_rank(o);
    return m < 0 || (mode_ == death_mode::remote_error && dead_[static_cast<size_t>(m)]);
  };
  changed_.wait_until(lock, until, settled);
  const int m = missing_rank(o);
  if (m < 0) {
    finish(r, k, o, data);
    return {};
  }
  const auto what = op_name(o.kind, k);
  if (dead_[static_cast<size_t>(m)] && mode_ == death_mode::remote_error)
    return make_error(errc::peer_down, what + ": rank " + std::to_string(m) + " is down");
  return make_error(errc::collective_timeout, what + ": rank " + std::to_string(m)
                                                + " did not join by the deadline");
}

// -- thread_group_collective --------------------------------------------------

thread_group_collective::thread_group_collective(thread_group& group, int rank)
  : group_(group), rank_(rank) {}

caf::error thread_group_collective::fail(caf::error err) {
  ready_ = false;
  pending_.clear();
  return err;
}

caf::expected<ticket> thread_group_collective::post(reduce_op op, float_span data,
                                                    time_point) {
  if (!ready_)
    return make_error(errc::not_ready, "rank " + std::to_string(rank_) + ": closed");
  const auto n = static_cast<size_t>(group_.ranks());
  if (op != reduce_op::all_reduce && data.count % n != 0)
    return make_error(errc::invalid_argument,
                      std::string(to_string(op)) + " of " + std::to_string(data.count)
                        + " floats on " + std::to_string(n) + " ranks: pad to a multiple");
  if (auto err = group_.post(rank_, next_, op, data))
    return is(err, errc::capacity_exceeded) ? err : fail(std::move(err));
  pending_.push_back({next_, data});
  return next_++;
}

caf::error thread_group_collective::wait(ticket t, time_point until) {
  if (!ready_)
    return make_error(errc::not_ready, "rank " + std::to_string(rank_) + ": closed");
  if (t >= next_)
    return make_error(errc::invalid_argument,
                      "wait: ticket " + std::to_string(t) + " was not posted");
  while (!pending_.empty() && pending_.front().id <= t) {
    const auto p = pending_.front();
    if (auto err = group_.wait(rank_, p.id, p.data, until))
      return fail(std::move(err));
    pending_.pop_front();
  }
  return {};
}

} // namespace tandem::nccl
