// http_scorer.hpp: reward.kind: http — POSTs a batch to a reward server.
//
// Protocol (one POST per group, to reward.url, Content-Type application/json):
//   request  {"query": [prompt+completion, ...], "prompts": [...], "labels": [answer, ...]}
//   reply    200 {"rewards": [x, ...]}   one finite number per query; extra fields ignored
//
// Each attempt has the deadline reward.timeout_s (connect + write + read).
// Outcomes: a reply that is not 200 with exactly as many numbers as queries
// is malformed_message (never retried); a missed deadline is timeout (not
// retried: a hung server would multiply the wait); a refused or closed
// connection, or a 5xx status, is io_failure and is retried up to
// reward.retries times with backoff 100 ms, 200 ms, 400 ms ... (capped 2 s).
//
// Connections: at most reward.concurrency calls run at once, each on its own
// keep-alive connection from a bounded pool (a caller waits at most one
// deadline for a free one, then gets timeout).
//
// Thread safety: score() may be called from several threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tasks/reward_scorer.hpp"

namespace httplib {
class Client;
}

namespace tandem {

struct http_scorer_config {
  std::string url;                          // http://host:port/path
  std::chrono::milliseconds timeout{30000}; // per attempt
  int32_t retries = 2;                      // transport errors only
  int32_t concurrency = 4;                  // calls at once (connections)
  std::chrono::milliseconds backoff{100};   // first retry delay, doubled each time
};

/// Splits "http://host:port/path" into {"http://host:port", "/path"};
/// invalid_argument if it does not start with http:// or https:// or has no host.
caf::expected<std::pair<std::string, std::string>> split_url(const std::string& url);

/// The request body for `batch` (see the top).
std::string http_score_request(const std::vector<score_item>& batch);

class http_scorer : public reward_scorer {
public:
  /// invalid_argument if the url is invalid.
  static caf::expected<std::unique_ptr<http_scorer>> make(http_scorer_config cfg);
  ~http_scorer() override;

  caf::expected<std::vector<double>> score(const std::vector<score_item>& batch) override;

  /// Attempts made so far (tests: retries happen only for transport errors).
  int64_t attempts() const;

private:
  http_scorer(http_scorer_config cfg, std::string base, std::string path);
  caf::expected<std::vector<double>> attempt(httplib::Client& c, const std::string& body,
                                             size_t count);
  std::unique_ptr<httplib::Client> acquire();
  void release(std::unique_ptr<httplib::Client> c);

  http_scorer_config cfg_;
  std::string base_;
  std::string path_;
  mutable std::mutex mtx_;
  std::condition_variable free_cv_;
  // Bounded by cfg_.concurrency: idle keep-alive connections.
  std::vector<std::unique_ptr<httplib::Client>> idle_;
  int32_t in_use_ = 0;
  int64_t attempts_ = 0;
};

} // namespace tandem
