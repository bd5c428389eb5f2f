// command_scorer.cpp: the command reward plug-in (protocol in the header).
#include "tasks/command_scorer.hpp"

#include <algorithm>
#include <iostream>

#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

std::string command_request_line(const score_item& it) {
  return "{\"prompt\":" + json_quote(it.prompt) + ",\"completion\":" + json_quote(it.completion)
         + ",\"answer\":" + json_quote(it.answer) + "}";
}

line_process_factory command_factory(std::vector<std::string> argv) {
  return [argv](int32_t index) {
    auto prefix = "[reward command #" + std::to_string(index) + "] ";
    return spawn_line_process(argv, [prefix](const std::string& line) {
      std::cerr << prefix << line << std::endl;
    });
  };
}

command_scorer::command_scorer(line_process_factory start, int32_t instances,
                               std::chrono::milliseconds timeout,
                               std::chrono::milliseconds startup)
  : start_(std::move(start)), timeout_(timeout), startup_(startup) {
  procs_.resize(static_cast<size_t>(instances < 1 ? 1 : instances));
  fresh_.assign(procs_.size(), false);
}

command_scorer::~command_scorer() {
  for (auto& p : procs_)
    if (p)
      p->kill();
}

caf::error command_scorer::ensure_started(size_t i) {
  if (procs_[i])
    return {};
  auto p = start_(static_cast<int32_t>(i));
  if (!p)
    return p.error();
  ++starts_;
  procs_[i] = std::move(*p);
  fresh_[i] = true;
  return {};
}

// A reply, or an error after which a timed-out or broken instance is
// dropped (killed) so that the next request starts it again.
caf::expected<double> command_scorer::receive(size_t i, steady_deadline until) {
  auto line = procs_[i]->read_line(until);
  if (!line) {
    procs_[i]->kill();
    procs_[i].reset();
    return line.error();
  }
  return parse_reward_line(*line);
}

caf::expected<std::vector<double>>
command_scorer::score(const std::vector<score_item>& batch) {
  std::vector<double> out(batch.size());
  caf::error first;
  size_t n = procs_.size();
  for (size_t begin = 0; begin < batch.size(); begin += n) {
    size_t end = std::min(batch.size(), begin + n);
    auto round = std::chrono::steady_clock::now() + timeout_;
    std::vector<bool> sent(end - begin, false);
    std::vector<steady_deadline> until(end - begin, round);
    for (size_t k = begin; k < end; ++k) {
      size_t i = k - begin;
      auto err = ensure_started(i);
      if (fresh_[i])
        until[i] += startup_;
      if (!err)
        err = procs_[i]->write_line(command_request_line(batch[k]), until[i]);
      if (err) {
        if (procs_[i]) {
          procs_[i]->kill();
          procs_[i].reset();
        }
        if (!first)
          first = std::move(err);
        continue;
      }
      sent[i] = true;
    }
    // Every instance that got a request is read (or killed), so that all
    // stay in step even when one failed.
    for (size_t k = begin; k < end; ++k) {
      if (!sent[k - begin])
        continue;
      auto r = receive(k - begin, until[k - begin]);
      if (procs_[k - begin])
        fresh_[k - begin] = false;
      if (r)
        out[k] = *r;
      else if (!first)
        first = r.error();
    }
    if (first)
      return first;
  }
  return out;
}

} // namespace tandem
