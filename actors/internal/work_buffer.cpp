#include "actors/internal/work_buffer.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "runtime/error.hpp"

namespace tandem {

const char* to_string(group_state s) {
  switch (s) {
    case group_state::queued: return "queued";
    case group_state::in_flight: return "in_flight";
    case group_state::scoring: return "scoring";
    case group_state::scored: return "scored";
    case group_state::training: return "training";
  }
  return "?";
}

int64_t start_version(const rollout_group& g) {
  int64_t v = std::numeric_limits<int64_t>::max();
  for (auto& c : g.completions)
    for (auto x : c.versions)
      v = std::min(v, x);
  return v;
}

work_buffer::work_buffer(size_t capacity, uint32_t max_requeues)
  : capacity_(capacity), max_requeues_(max_requeues) {}

caf::expected<uint64_t> work_buffer::admit(uint64_t problem_id,
                                           std::vector<int32_t> prompt,
                                           std::string answer,
                                           int32_t group_size) {
  if (groups_.size() >= capacity_)
    return make_error(errc::capacity_exceeded,
                      "work buffer holds " + std::to_string(capacity_) + " groups");
  auto id = next_id_++;
  entry e;
  e.task.group_id = id;
  e.task.problem_id = problem_id;
  e.task.prompt = std::move(prompt);
  e.task.answer = std::move(answer);
  e.task.group_size = group_size;
  groups_.emplace(id, std::move(e));
  ++counters_.admitted;
  issued_.push_back({id, problem_id});
  return id;
}

std::vector<group_task> work_buffer::take_for_dispatch(size_t n,
                                                       const std::string& holder,
                                                       int64_t min_version,
                                                       uint64_t seed_base) {
  std::vector<group_task> out;
  for (auto& [id, e] : groups_) {
    if (out.size() >= n)
      break;
    if (e.state != group_state::queued)
      continue;
    e.state = group_state::in_flight;
    e.holder = holder;
    e.task.min_version = min_version;
    // A new seed per attempt: a retry must not replay the failed sample.
    // Keyed by the problem, not the group id: a prompt regenerated after a
    // head restart gets the seed it would have had.
    e.task.seed = seed_base ^ ((e.task.problem_id + 1) * 0x9E3779B97F4A7C15ull)
                  ^ (uint64_t{e.attempts} << 48);
    out.push_back(e.task);
  }
  return out;
}

caf::error work_buffer::expect_state(uint64_t id, group_state s, entry** out) {
  auto it = groups_.find(id);
  if (it == groups_.end()) {
    ++counters_.rejected;
    return make_error(errc::malformed_message,
                      "group " + std::to_string(id) + " is not live (consumed, dropped or unknown)");
  }
  if (it->second.state != s) {
    ++counters_.rejected;
    return make_error(errc::malformed_message,
                      "group " + std::to_string(id) + " is " + to_string(it->second.state)
                        + ", expected " + to_string(s));
  }
  *out = &it->second;
  return caf::none;
}

caf::error work_buffer::mark_generated(uint64_t group_id, const std::string& holder) {
  entry* e = nullptr;
  if (auto err = expect_state(group_id, group_state::in_flight, &e))
    return err;
  if (e->holder != holder) {
    ++counters_.rejected;
    return make_error(errc::malformed_message,
                      "group " + std::to_string(group_id) + " is held by " + e->holder
                        + ", not " + holder);
  }
  e->state = group_state::scoring;
  return caf::none;
}

caf::error work_buffer::mark_scored(uint64_t group_id, scored_group result) {
  entry* e = nullptr;
  if (auto err = expect_state(group_id, group_state::scoring, &e))
    return err;
  e->state = group_state::scored;
  e->result = std::move(result);
  return caf::none;
}

caf::error work_buffer::filter(uint64_t group_id) {
  entry* e = nullptr;
  if (auto err = expect_state(group_id, group_state::scored, &e))
    return err;
  ++counters_.filtered;
  dropped_.push_back({group_id, e->task.problem_id});
  groups_.erase(group_id);
  return caf::none;
}

void work_buffer::return_to_queue(std::map<uint64_t, entry>::iterator it) {
  auto& e = it->second;
  ++counters_.requeued;
  if (++e.attempts > max_requeues_) {
    ++counters_.dropped;
    dropped_.push_back({it->first, e.task.problem_id});
    groups_.erase(it);
    return;
  }
  e.state = group_state::queued;
  e.holder.clear();
  e.result.reset();
}

caf::error work_buffer::requeue(uint64_t group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end()
      || (it->second.state != group_state::in_flight
          && it->second.state != group_state::scoring)) {
    ++counters_.rejected;
    return make_error(errc::malformed_message,
                      "group " + std::to_string(group_id) + " cannot be requeued");
  }
  return_to_queue(it);
  return caf::none;
}

std::vector<uint64_t> work_buffer::requeue_holder(const std::string& holder) {
  std::vector<uint64_t> ids;
  for (auto it = groups_.begin(); it != groups_.end();) {
    auto next = std::next(it);
    if (it->second.state == group_state::in_flight && it->second.holder == holder) {
      ids.push_back(it->first);
      return_to_queue(it);
    }
    it = next;
  }
  return ids;
}

std::vector<scored_group> work_buffer::take_batch(size_t n, int64_t min_start_version,
                                                  std::vector<uint64_t>* stale_out) {
  std::vector<scored_group> out;
  for (auto it = groups_.begin(); it != groups_.end() && out.size() < n;) {
    auto next = std::next(it);
    auto& e = it->second;
    if (e.state == group_state::scored) {
      if (start_version(e.result->rollout) < min_start_version) {
        if (stale_out)
          stale_out->push_back(it->first);
        return_to_queue(it);
      } else {
        e.state = group_state::training;
        out.push_back(*e.result);
      }
    }
    it = next;
  }
  return out;
}

caf::error work_buffer::commit(const std::vector<uint64_t>& ids) {
  for (auto id : ids) {
    entry* e = nullptr;
    if (auto err = expect_state(id, group_state::training, &e))
      return err;
  }
  for (auto id : ids) {
    groups_.erase(id);
    ++counters_.consumed;
  }
  return caf::none;
}

caf::error work_buffer::rollback(const std::vector<uint64_t>& ids) {
  for (auto id : ids) {
    entry* e = nullptr;
    if (auto err = expect_state(id, group_state::training, &e))
      return err;
    e->state = group_state::scored;
  }
  return caf::none;
}

std::vector<group_ref> work_buffer::take_issued() {
  return std::exchange(issued_, {});
}

std::vector<group_ref> work_buffer::take_dropped() {
  return std::exchange(dropped_, {});
}

std::vector<group_ref> work_buffer::live_groups() const {
  std::vector<group_ref> out;
  for (auto& [id, e] : groups_)
    out.push_back({id, e.task.problem_id});
  return out;
}

caf::error work_buffer::restore(uint64_t next_id, const work_counters& counters) {
  if (!groups_.empty())
    return make_error(errc::invalid_argument, "work_buffer::restore on a buffer with live groups");
  next_id_ = std::max<uint64_t>(next_id, 1);
  counters_ = counters;
  return caf::none;
}

size_t work_buffer::count(group_state s) const {
  return static_cast<size_t>(std::count_if(groups_.begin(), groups_.end(),
                                           [s](auto& kv) { return kv.second.state == s; }));
}

std::optional<group_state> work_buffer::state_of(uint64_t group_id) const {
  auto it = groups_.find(group_id);
  if (it == groups_.end())
    return std::nullopt;
  return it->second.state;
}

std::string work_buffer::holder_of(uint64_t group_id) const {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? std::string{} : it->second.holder;
}

} // namespace tandem
