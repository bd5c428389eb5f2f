// http_scorer.cpp: the HTTP reward plug-in (protocol at the top of the header).
#include "tasks/http_scorer.hpp"

#include <algorithm>
#include <thread>

#include <httplib.h>

#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

caf::expected<std::pair<std::string, std::string>> split_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https")
    return make_error(errc::invalid_argument,
                      "reward.url must start with http:// or https:// (got '" + url + "')");
  auto host_begin = scheme_end + 3;
  auto slash = url.find('/', host_begin);
  auto base = url.substr(0, slash);
  if (base.size() <= host_begin)
    return make_error(errc::invalid_argument, "reward.url has no host (got '" + url + "')");
  std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  return std::make_pair(base, path);
}

namespace {

std::string json_array(const std::vector<score_item>& batch, int which) {
  std::string out = "[";
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& it = batch[i];
    out += i ? "," : "";
    out += which == 0 ? json_quote(it.prompt + it.completion)
                      : json_quote(which == 1 ? it.prompt : it.answer);
  }
  return out + "]";
}

} // namespace

std::string http_score_request(const std::vector<score_item>& batch) {
  return "{\"query\":" + json_array(batch, 0) + ",\"prompts\":" + json_array(batch, 1)
         + ",\"labels\":" + json_array(batch, 2) + "}";
}

caf::expected<std::unique_ptr<http_scorer>> http_scorer::make(http_scorer_config cfg) {
  auto parts = split_url(cfg.url);
  if (!parts)
    return parts.error();
  if (cfg.concurrency < 1)
    cfg.concurrency = 1;
  return std::unique_ptr<http_scorer>(
    new http_scorer(std::move(cfg), parts->first, parts->second));
}

http_scorer::http_scorer(http_scorer_config cfg, std::string base, std::string path)
  : cfg_(std::move(cfg)), base_(std::move(base)), path_(std::move(path)) {
}

http_scorer::~http_scorer() = default;

int64_t http_scorer::attempts() const {
  std::lock_guard<std::mutex> g(mtx_);
  return attempts_;
}

std::unique_ptr<httplib::Client> http_scorer::acquire() {
  std::unique_lock<std::mutex> g(mtx_);
  if (!free_cv_.wait_for(g, cfg_.timeout, [&] { return in_use_ < cfg_.concurrency; }))
    return nullptr;
  ++in_use_;
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  auto c = std::make_unique<httplib::Client>(base_);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true); // small requests: no Nagle wait for the ACK of the headers
  c->set_connection_timeout(cfg_.timeout);
  c->set_read_timeout(cfg_.timeout);
  c->set_write_timeout(cfg_.timeout);
  return c;
}

void http_scorer::release(std::unique_ptr<httplib::Client> c) {
  {
    std::lock_guard<std::mutex> g(mtx_);
    --in_use_;
    if (c)
      idle_.push_back(std::move(c));
  }
  free_cv_.notify_one();
}

caf::expected<std::vector<double>>
http_scorer::attempt(httplib::Client& c, const std::string& body, size_t count) {
  {
    std::lock_guard<std::mutex> g(mtx_);
    ++attempts_;
  }
  auto res = c.Post(path_.c_str(), body, "application/json");
  if (!res) {
    auto e = res.error();
    auto what = "reward server " + base_ + path_ + ": " + httplib::to_string(e);
    // A read past the deadline and a closed connection both end here;
    // score() tells them apart by the time spent.
    return make_error(errc::io_failure, what);
  }
  if (res->status >= 500)
    return make_error(errc::io_failure, "reward server " + base_ + path_ + ": status "
                                          + std::to_string(res->status));
  if (res->status != 200)
    return make_error(errc::malformed_message, "reward server " + base_ + path_
                                                 + ": status " + std::to_string(res->status));
  return parse_rewards_reply(res->body, count);
}

caf::expected<std::vector<double>> http_scorer::score(const std::vector<score_item>& batch) {
  if (batch.empty())
    return std::vector<double>{};
  auto client = acquire();
  if (!client)
    return make_error(errc::timeout, "no free reward connection within reward.timeout_s");
  auto body = http_score_request(batch);
  auto delay = cfg_.backoff;
  caf::expected<std::vector<double>> r = std::vector<double>{};
  for (int32_t i = 0;; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    r = attempt(*client, body, batch.size());
    if (r || !is(r.error(), errc::io_failure))
      break;
    if (std::chrono::steady_clock::now() - t0 >= cfg_.timeout) {
      r = make_error(errc::timeout, "reward server " + base_ + path_ + ": no reply within "
                                      + std::to_string(cfg_.timeout.count()) + " ms");
      client.reset(); // the connection may still carry the late reply
      break;
    }
    if (i >= cfg_.retries)
      break;
    // Backoff between transport retries: a bounded wait (see the header).
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
  if (!r && is(r.error(), errc::malformed_message))
    client.reset();
  release(std::move(client));
  return r;
}

} // namespace tandem
