// bounded_task_queue.cpp: the console server's worker pool (see
// bounded_task_queue.hpp).

#include "console/internal/bounded_task_queue.hpp"

#include <algorithm>

namespace tandem {

bounded_task_queue::bounded_task_queue(size_t threads, size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i)
    threads_.emplace_back([this] { work(); });
}

bounded_task_queue::~bounded_task_queue() {
  bool joined = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    joined = shutdown_;
  }
  if (!joined)
    shutdown();
}

void bounded_task_queue::enqueue(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock{mu_};
  not_full_.wait(lock, [&] { return jobs_.size() < capacity_ || shutdown_; });
  jobs_.push_back(std::move(fn));
  not_empty_.notify_one();
}

void bounded_task_queue::shutdown() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    shutdown_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

size_t bounded_task_queue::queued() const {
  std::lock_guard<std::mutex> guard{mu_};
  return jobs_.size();
}

void bounded_task_queue::work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock{mu_};
      not_empty_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
      if (jobs_.empty())
        return; // shut down, nothing left
      fn = std::move(jobs_.front());
      jobs_.pop_front();
    }
    not_full_.notify_one();
    fn();
  }
}

} // namespace tandem
