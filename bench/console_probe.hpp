// console_probe.hpp: what a user's browser and a Prometheus server do to a
// run's console, for the benches: one SSE stream read as the page reads it
// (/api/stream), a scrape of /metrics every second, and GET /api/actors
// every `actors_every`, timing each reply (the figure `tandem bench control
// --console` prints for 1,024 samplers).
//
// Thread safety: construct and stop() from one thread; the probe runs two
// threads of its own, joined by stop() (each HTTP call has a 5 s deadline).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem {

class console_probe {
public:
  struct figures {
    /// One per GET /api/actors answered 200, at most max_samples: a bench
    /// round lasts minutes (one sample per 100 ms), so 100,000 is hours.
    std::vector<double> actors_ms;
    static constexpr size_t max_samples = 100000;
    size_t actors_bytes = 0;       // size of the last reply
    uint64_t stream_bytes = 0;     // read from /api/stream
    uint64_t scrapes = 0;          // /metrics answered 200
    uint64_t failures = 0;         // requests that failed or were not 200
  };

  /// `url` as the head prints it: http://HOST:PORT/
  console_probe(const std::string& url, std::chrono::milliseconds actors_every);
  ~console_probe();
  console_probe(const console_probe&) = delete;
  console_probe& operator=(const console_probe&) = delete;

  /// Stops both threads and returns what they measured.
  figures stop();

private:
  void poll_loop();
  void stream_loop();

  std::string host_;
  int port_ = 0;
  std::chrono::milliseconds actors_every_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  figures f_;
  std::thread poller_, streamer_;
};

} // namespace tandem
