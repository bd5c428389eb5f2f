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

namespace {

// Requests written to one instance and not yet answered, in bytes: with at
// most this much in flight (and at least one line), replies are read while
// the program works through the rest, and neither end's socket buffer (a
// few hundred KiB) fills while the other waits for it.
constexpr size_t window_bytes = size_t{64} << 10;

void keep_first(caf::error& first, caf::error e) {
  if (!first)
    first = std::move(e);
}

} // namespace

// One instance's share of a batch: items k, k + n, k + 2n, ... in order.
struct command_scorer::lane {
  size_t instance = 0;
  std::vector<size_t> items;     // indexes into the batch, in send order
  std::vector<size_t> line_size; // bytes of each line sent
  size_t sent = 0, received = 0, in_flight_bytes = 0;
  steady_deadline until; // of the next reply
  bool open = true;      // false once its instance was dropped
};

// A timed-out or broken instance is killed, so that the next request starts
// it again.
void command_scorer::drop(lane& l) {
  if (procs_[l.instance]) {
    procs_[l.instance]->kill();
    procs_[l.instance].reset();
  }
  l.open = false;
}

void command_scorer::send_window(lane& l, const std::vector<score_item>& batch,
                                 caf::error& first) {
  while (l.open && !first && l.sent < l.items.size()) {
    auto line = command_request_line(batch[l.items[l.sent]]);
    if (l.in_flight_bytes > 0 && l.in_flight_bytes + line.size() + 1 > window_bytes)
      return;
    if (auto err = procs_[l.instance]->write_line(line, l.until)) {
      drop(l);
      keep_first(first, std::move(err));
      return;
    }
    l.line_size.push_back(line.size() + 1);
    l.in_flight_bytes += line.size() + 1;
    ++l.sent;
  }
}

void command_scorer::receive_one(lane& l, std::vector<double>& out, caf::error& first) {
  auto line = procs_[l.instance]->read_line(l.until);
  if (!line) {
    drop(l);
    keep_first(first, line.error());
    return;
  }
  fresh_[l.instance] = false;
  l.in_flight_bytes -= l.line_size[l.received];
  auto k = l.items[l.received++]; // l.until stays: the call's deadline covers its share
  auto r = parse_reward_line(*line);
  if (r)
    out[k] = *r;
  else
    keep_first(first, r.error());
}

caf::expected<std::vector<double>>
command_scorer::score(const std::vector<score_item>& batch) {
  std::vector<double> out(batch.size());
  size_t n = std::min(procs_.size(), batch.size());
  std::vector<lane> lanes(n);
  for (size_t k = 0; k < batch.size(); ++k)
    lanes[k % n].items.push_back(k);
  caf::error first;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto& l = lanes[i];
    l.instance = i;
    if (auto err = ensure_started(i)) {
      l.open = false;
      keep_first(first, std::move(err));
      continue;
    }
    l.until = start + timeout_ + (fresh_[i] ? startup_ : std::chrono::milliseconds(0));
    send_window(l, batch, first);
  }
  // One reply per lane in turn. After an error nothing more is sent, but
  // every request already sent is read (or its instance dropped), so that
  // every instance stays in step for the next call.
  for (bool pending = true; pending;) {
    pending = false;
    for (auto& l : lanes) {
      if (!l.open || l.received == l.sent)
        continue;
      receive_one(l, out, first);
      send_window(l, batch, first);
      pending = pending || (l.open && l.received < l.sent);
    }
  }
  if (first)
    return first;
  return out;
}

} // namespace tandem
