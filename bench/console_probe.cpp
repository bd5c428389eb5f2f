#include "bench/console_probe.hpp"

#include <httplib.h>

namespace tandem {

namespace {

using steady = std::chrono::steady_clock;

/// http://HOST:PORT/ -> HOST, PORT.
void split_url(const std::string& url, std::string& host, int& port) {
  auto rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  auto colon = rest.find(':');
  host = rest.substr(0, colon);
  port = colon == std::string::npos ? 80 : std::atoi(rest.c_str() + colon + 1);
}

} // namespace

console_probe::console_probe(const std::string& url, std::chrono::milliseconds actors_every)
  : actors_every_(actors_every) {
  split_url(url, host_, port_);
  poller_ = std::thread([this] { poll_loop(); });
  streamer_ = std::thread([this] { stream_loop(); });
}

console_probe::~console_probe() { stop(); }

void console_probe::poll_loop() {
  httplib::Client cli(host_, port_);
  cli.set_connection_timeout(std::chrono::seconds(5));
  cli.set_read_timeout(std::chrono::seconds(5));
  auto next_scrape = steady::now();
  while (!stop_) {
    auto t0 = steady::now();
    auto res = cli.Get("/api/actors");
    auto ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
    {
      std::lock_guard<std::mutex> g(mu_);
      if (res && res->status == 200) {
        if (f_.actors_ms.size() < figures::max_samples)
          f_.actors_ms.push_back(ms);
        f_.actors_bytes = res->body.size();
      } else {
        ++f_.failures;
      }
    }
    if (steady::now() >= next_scrape) {
      auto m = cli.Get("/metrics");
      std::lock_guard<std::mutex> g(mu_);
      (m && m->status == 200 ? f_.scrapes : f_.failures)++;
      next_scrape += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(t0 + actors_every_);
  }
}

void console_probe::stream_loop() {
  while (!stop_) {
    httplib::Client cli(host_, port_);
    cli.set_connection_timeout(std::chrono::seconds(5));
    cli.set_read_timeout(std::chrono::seconds(5));
    auto res = cli.Get("/api/stream", [this](const char*, size_t n) {
      std::lock_guard<std::mutex> g(mu_);
      f_.stream_bytes += n;
      return !stop_.load();
    });
    if (!stop_ && (!res || res->status != 200)) {
      std::lock_guard<std::mutex> g(mu_);
      ++f_.failures;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

console_probe::figures console_probe::stop() {
  stop_ = true;
  if (poller_.joinable())
    poller_.join();
  if (streamer_.joinable())
    streamer_.join();
  std::lock_guard<std::mutex> g(mu_);
  return f_;
}

} // namespace tandem
