// bounded_task_queue.hpp: the console server's worker pool (cpp-httplib's
// TaskQueue): a fixed number of threads and a bounded queue of accepted
// connections waiting for one.
//
// Bound: at most `capacity` tasks wait. enqueue() (the server's accept
// thread) then waits for room, so new connections stay in the kernel's
// listen backlog, which refuses them when full, instead of piling up here.
// Room always comes: every task ends within the server's read, write and
// keep-alive timeouts, and stream tasks end at stop().
//
// Lifecycle: threads start in the constructor; shutdown() lets them finish
// the queued tasks (httplib closes those sockets at once, the server being
// stopped) and joins them.
//
// Thread safety: enqueue() from one thread (the accept thread), shutdown()
// once, after the last enqueue().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace tandem {

class bounded_task_queue final : public httplib::TaskQueue {
public:
  bounded_task_queue(size_t threads, size_t capacity);
  ~bounded_task_queue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  size_t queued() const;

private:
  void work();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
};

} // namespace tandem
