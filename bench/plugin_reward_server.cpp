// plugin_reward_server.cpp: the bench's trivial reward server
// (plugin_reward_server.hpp).
#include "bench/plugin_reward_server.hpp"

#include <chrono>
#include <limits>

#include <httplib.h>

#include "bench/reward_workload.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {

namespace {

constexpr size_t max_body_bytes = size_t{64} << 20;
constexpr time_t io_timeout_s = 5;
constexpr auto start_deadline = std::chrono::seconds(5);

const json_value::array_type* array_field(const json_value& doc, const char* key) {
  auto v = doc.find(key);
  return v ? v->as_array() : nullptr;
}

} // namespace

caf::expected<std::string> plugin_reward_reply(const std::string& request_body) {
  auto doc = parse_json(request_body, "reward request");
  if (!doc)
    return doc.error();
  auto queries = array_field(*doc, "query");
  auto prompts = array_field(*doc, "prompts");
  auto labels = array_field(*doc, "labels");
  if (!queries || !prompts || !labels || queries->size() != prompts->size()
      || queries->size() != labels->size())
    return make_error(errc::invalid_argument,
                      "needs \"query\", \"prompts\" and \"labels\" arrays of one length");
  std::string out = "{\"rewards\":[";
  for (size_t i = 0; i < queries->size(); ++i) {
    auto q = (*queries)[i].as_string();
    auto p = (*prompts)[i].as_string();
    auto a = (*labels)[i].as_string();
    if (!q || !p || !a || q->compare(0, p->size(), *p) != 0)
      return make_error(errc::invalid_argument, "entry " + std::to_string(i)
                                                  + ": strings, the query starting with its prompt");
    out += i ? "," : "";
    out += plugin_rule(std::string_view(*q).substr(p->size()), *a) > 0 ? "1.0" : "0.0";
  }
  return out + "]}";
}

plugin_reward_server::plugin_reward_server() : server_(std::make_unique<httplib::Server>()) {
}

plugin_reward_server::~plugin_reward_server() {
  if (listener_.joinable()) {
    server_->stop();
    listener_.join();
  }
}

std::string plugin_reward_server::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/score";
}

caf::expected<std::unique_ptr<plugin_reward_server>> plugin_reward_server::start(int32_t threads) {
  std::unique_ptr<plugin_reward_server> s(new plugin_reward_server());
  auto& srv = *s->server_;
  auto n = static_cast<size_t>(threads < 1 ? 1 : threads);
  srv.new_task_queue = [n] { return new httplib::ThreadPool(n); };
  srv.set_tcp_nodelay(true); // headers and body are two writes: no Nagle wait between them
  srv.set_keep_alive_max_count(std::numeric_limits<size_t>::max());
  srv.set_keep_alive_timeout(io_timeout_s);
  srv.set_read_timeout(io_timeout_s, 0);
  srv.set_write_timeout(io_timeout_s, 0);
  srv.set_payload_max_length(max_body_bytes);
  auto* self = s.get();
  srv.Post("/score", [self](const httplib::Request& q, httplib::Response& r) {
    auto body = plugin_reward_reply(q.body);
    if (!body) {
      r.status = 400;
      r.set_content(describe(body.error()), "text/plain");
      return;
    }
    ++self->requests_;
    r.set_content(std::move(*body), "application/json");
  });
  s->port_ = srv.bind_to_any_port("127.0.0.1");
  if (s->port_ <= 0)
    return make_error(errc::io_failure, "bench reward server: cannot listen on 127.0.0.1");
  s->listener_ = std::thread([&srv] { srv.listen_after_bind(); });
  // stop() does nothing before the accept loop runs: wait for it (bounded).
  auto until = std::chrono::steady_clock::now() + start_deadline;
  while (!srv.is_running() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!srv.is_running())
    return make_error(errc::io_failure, "bench reward server: did not start within 5 s");
  return s;
}

} // namespace tandem
