// bounded_task_queue_test.cpp: the console server's worker pool
// (console/internal/bounded_task_queue.hpp).

#include "console/internal/bounded_task_queue.hpp"

#include <atomic>
#include <future>

#include <gtest/gtest.h>

namespace tandem {
namespace {

using namespace std::chrono_literals;

TEST(BoundedTaskQueue, RunsEveryTaskAndShutdownRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  bounded_task_queue queue{2, 100};
  for (int i = 0; i < 50; ++i)
    queue.enqueue([&] { ++ran; });
  queue.shutdown();
  EXPECT_EQ(ran.load(), 50);
}

TEST(BoundedTaskQueue, EnqueueWaitsForRoomWhenFull) {
  bounded_task_queue queue{1, 1};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  queue.enqueue([&] {
    started.set_value();
    released.wait(); // holds the only worker
  });
  started.get_future().wait();
  queue.enqueue([] {}); // fills the queue
  auto third = std::async(std::launch::async, [&] { queue.enqueue([] {}); });
  // A negative check: it can only miss a bug, never fail a correct queue.
  EXPECT_EQ(third.wait_for(50ms), std::future_status::timeout);
  EXPECT_EQ(queue.queued(), 1u);
  release.set_value();
  EXPECT_EQ(third.wait_for(30s), std::future_status::ready);
  queue.shutdown();
  EXPECT_EQ(queue.queued(), 0u);
}

} // namespace
} // namespace tandem
