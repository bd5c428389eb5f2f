// plugin_reward_server.hpp: the trivial batched reward server `tandem bench
// reward` points the HTTP plug-in at, in the bench's own process.
//
// Starts: an httplib server on 127.0.0.1, an ephemeral port, POST only, with
// `threads` workers (a keep-alive connection holds one worker while it is
// open, so the bench gives one per caller, plus one).
// Serves: the HTTP plug-in's protocol (tasks/http_scorer.hpp): a request
// {"query": [prompt+completion, ...], "prompts": [...], "labels": [...]} gets
// {"rewards": [plugin_rule(completion, label), ...]} (bench/reward_workload.hpp),
// the completion being the query past its prompt. Anything else gets 400.
// Keep-alive connections stay open for as many requests as the client sends
// (httplib closes one after 5 by default; reward servers users run, such as
// uvicorn, do not) and close after 5 s idle.
// Bounds: bodies up to 64 MiB; reads and writes time out after 5 s; the
// start waits at most 5 s for the accept loop.
// Stops: in the destructor (the listener thread is joined).
//
// Why in-process and in C++: the bench measures what the plug-in costs
// tandem (request building, the connection, reply parsing); a server that
// does almost nothing isolates it. A user's server is measured with
// `tandem bench reward --url`.
//
// Thread safety: requests() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <caf/expected.hpp>

namespace httplib {
class Server;
}

namespace tandem {

class plugin_reward_server {
public:
  static caf::expected<std::unique_ptr<plugin_reward_server>> start(int32_t threads);
  ~plugin_reward_server();

  /// http://127.0.0.1:PORT/score
  std::string url() const;
  /// POSTs answered with rewards so far.
  int64_t requests() const { return requests_; }

private:
  plugin_reward_server();

  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
  std::atomic<int64_t> requests_{0};
};

/// The reply body for one request body, or invalid_argument (the 400).
caf::expected<std::string> plugin_reward_reply(const std::string& request_body);

} // namespace tandem
