// console_state.cpp: the console's shared documents and rings (see
// console_state.hpp). Every member takes mu_ for a bounded amount of work;
// publishing swaps a shared_ptr, so readers holding an older snapshot keep
// it alive without holding the lock.

#include "console/console_state.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

/// `object_json` with "id":N as its first key. Text that is not an object
/// (a writer's bug) is kept, quoted, under "text" so readers still get JSON.
std::string with_id(uint64_t id, const std::string& object_json) {
  const std::string head = "{\"id\":" + std::to_string(id);
  size_t first = 0;
  while (first < object_json.size() && is_space(object_json[first]))
    ++first;
  size_t last = object_json.size();
  while (last > first && is_space(object_json[last - 1]))
    --last;
  if (last - first < 2 || object_json[first] != '{' || object_json[last - 1] != '}')
    return head + ",\"text\":" + json_quote(object_json) + "}";
  size_t body = first + 1;
  while (body < last && is_space(object_json[body]))
    ++body;
  if (object_json[body] == '}') // "{}" or "{ }"
    return head + "}";
  return head + "," + object_json.substr(body, last - body);
}

} // namespace

console_state::console_state(limits l) : limits_(l) {
  limits_.events = std::max<size_t>(limits_.events, 1);
  limits_.metrics = std::max<size_t>(limits_.metrics, 1);
  snapshot_ = std::make_shared<const console_snapshot>();
}

void console_state::publish(std::string actors_json, std::string run_json,
                            std::string prometheus_text) {
  auto next = std::make_shared<console_snapshot>();
  next->actors_json = std::move(actors_json);
  next->run_json = std::move(run_json);
  next->prometheus_text = std::move(prometheus_text);
  std::shared_ptr<const console_snapshot> old;
  {
    std::lock_guard<std::mutex> guard{mu_};
    next->seq = snapshot_->seq + 1;
    old = std::exchange(snapshot_, std::move(next));
  }
  changed_.notify_all();
  // `old` may be the last reference: it is freed here, outside the lock.
}

uint64_t console_state::add_event(const std::string& object_json) {
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> guard{mu_};
    id = next_event_id_++;
    // Built under the lock so that ids appear in the ring in order; the text
    // is small (an event is ~250 bytes).
    events_.push_back(console_event{id, with_id(id, object_json)});
    if (events_.size() > limits_.events) {
      events_.pop_front();
      ++events_dropped_;
    }
  }
  changed_.notify_all();
  return id;
}

void console_state::add_metrics(int64_t step, std::string record_json) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!metrics_.empty() && step <= metrics_.back().step) {
      while (!metrics_.empty() && metrics_.back().step >= step)
        metrics_.pop_back();
      ++metrics_cuts_;
    }
    metrics_.push_back(console_metrics_record{step, std::move(record_json)});
    if (metrics_.size() > limits_.metrics) {
      metrics_.pop_front();
      ++metrics_dropped_;
    }
  }
  changed_.notify_all();
}

std::shared_ptr<const console_snapshot> console_state::snapshot() const {
  std::lock_guard<std::mutex> guard{mu_};
  return snapshot_;
}

std::shared_ptr<const console_snapshot>
console_state::wait_newer(uint64_t after_seq, uint64_t after_event, int64_t after_step,
                          std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock{mu_};
  changed_.wait_for(lock, timeout, [&] {
    const int64_t last_step = metrics_.empty() ? -1 : metrics_.back().step;
    return snapshot_->seq > after_seq || next_event_id_ - 1 > after_event ||
           last_step != after_step;
  });
  return snapshot_;
}

std::vector<console_event> console_state::events_after(uint64_t after_id, size_t max) const {
  std::lock_guard<std::mutex> guard{mu_};
  // Ids are consecutive in the ring: the first one after `after_id` is found
  // by arithmetic, not by a scan.
  std::vector<console_event> out;
  if (events_.empty() || max == 0)
    return out;
  const uint64_t front = events_.front().id;
  const size_t begin = after_id < front ? 0 : static_cast<size_t>(after_id - front + 1);
  for (size_t i = begin; i < events_.size() && out.size() < max; ++i)
    out.push_back(events_[i]);
  return out;
}

std::vector<console_metrics_record> console_state::metrics_after(int64_t after_step,
                                                                 size_t max) const {
  std::lock_guard<std::mutex> guard{mu_};
  std::vector<console_metrics_record> out;
  // Steps ascend (add_metrics cuts back a repeated one), so binary search.
  auto it = std::upper_bound(metrics_.begin(), metrics_.end(), after_step,
                             [](int64_t s, const console_metrics_record& r) { return s < r.step; });
  for (; it != metrics_.end() && out.size() < max; ++it)
    out.push_back(*it);
  return out;
}

uint64_t console_state::last_event_id() const {
  std::lock_guard<std::mutex> guard{mu_};
  return next_event_id_ - 1;
}

int64_t console_state::last_step() const {
  std::lock_guard<std::mutex> guard{mu_};
  return metrics_.empty() ? -1 : metrics_.back().step;
}

uint64_t console_state::events_dropped() const {
  std::lock_guard<std::mutex> guard{mu_};
  return events_dropped_;
}

uint64_t console_state::metrics_dropped() const {
  std::lock_guard<std::mutex> guard{mu_};
  return metrics_dropped_;
}

uint64_t console_state::metrics_cuts() const {
  std::lock_guard<std::mutex> guard{mu_};
  return metrics_cuts_;
}

} // namespace tandem
