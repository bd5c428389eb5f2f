#include "actors/internal/health_cell.hpp"

#include <algorithm>
#include <map>

namespace tandem {

namespace {

std::chrono::milliseconds ms_since(health_clock::time_point t, health_clock::time_point now) {
  return std::max(std::chrono::milliseconds{0},
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - t));
}

} // namespace

health_cell::health_cell(std::string role, std::string name, uint64_t incarnation,
                         health_clock::time_point now)
  : role_(std::move(role)), name_(std::move(name)), incarnation_(incarnation),
    last_read_(now), phase_since_(now), last_error_at_(now), last_touch_(now) {}

void health_cell::touch_locked() { last_touch_ = health_clock::now(); }

void health_cell::update(actor_state s, int64_t version, uint64_t in_flight) {
  std::lock_guard<std::mutex> g(mu_);
  state_ = s;
  version_ = version;
  in_flight_ = in_flight;
  touch_locked();
}

void health_cell::set_state(actor_state s) {
  std::lock_guard<std::mutex> g(mu_);
  state_ = s;
  touch_locked();
}

void health_cell::set_version(int64_t v) {
  std::lock_guard<std::mutex> g(mu_);
  version_ = v;
  touch_locked();
}

void health_cell::set_in_flight(uint64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  in_flight_ = n;
  touch_locked();
}

void health_cell::set_queue(size_t index, const char* name, uint64_t depth,
                            uint64_t capacity) {
  if (index >= max_queues)
    return;
  std::lock_guard<std::mutex> g(mu_);
  if (queues_.size() <= index)
    queues_.resize(index + 1);
  auto& q = queues_[index];
  if (q.name != name)
    q.name = name;
  q.depth = depth;
  q.capacity = capacity;
  touch_locked();
}

void health_cell::add_tokens(uint64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  tokens_ += n;
  touch_locked();
}

void health_cell::set_phase(std::optional<learner_phase> p) {
  std::lock_guard<std::mutex> g(mu_);
  if (p != phase_)
    phase_since_ = health_clock::now();
  phase_ = p;
  touch_locked();
}

void health_cell::set_nccl_epoch(uint64_t e) {
  std::lock_guard<std::mutex> g(mu_);
  nccl_epoch_ = e;
  touch_locked();
}

void health_cell::add_deadline_breach() {
  std::lock_guard<std::mutex> g(mu_);
  ++breaches_;
  touch_locked();
}

void health_cell::record_error(const std::string& text) {
  std::lock_guard<std::mutex> g(mu_);
  ++errors_;
  last_error_ = text.substr(0, max_error_bytes);
  last_error_at_ = health_clock::now();
  touch_locked();
}

void health_cell::touch() {
  std::lock_guard<std::mutex> g(mu_);
  touch_locked();
}

actor_report health_cell::read(health_clock::time_point now) {
  std::lock_guard<std::mutex> g(mu_);
  actor_report r;
  r.role = role_;
  r.name = name_;
  r.incarnation = incarnation_;
  r.state = state_;
  r.version = version_;
  r.in_flight = in_flight_;
  r.queues = queues_;
  auto dt = std::chrono::duration<double>(now - last_read_).count();
  if (dt > 0) {
    auto rate = static_cast<double>(tokens_ - tokens_read_) / dt;
    tokens_per_s_ = tokens_read_ == 0 && tokens_per_s_ == 0 ? rate
                                                            : 0.5 * tokens_per_s_ + 0.5 * rate;
    tokens_read_ = tokens_;
    last_read_ = now;
  }
  r.tokens_per_s = tokens_per_s_;
  r.phase = phase_;
  r.phase_age = ms_since(phase_since_, now);
  r.nccl_epoch = nccl_epoch_;
  r.deadline_breaches = breaches_;
  r.errors = errors_;
  r.last_error = last_error_;
  r.last_error_age = ms_since(last_error_at_, now);
  r.silent = ms_since(last_touch_, now);
  return r;
}

void report_sampler(health_cell& h, bool decoding, size_t queued, size_t max_queued,
                    int64_t version) {
  h.update(decoding     ? actor_state::busy
           : queued > 0 ? actor_state::waiting_for_weights
                        : actor_state::ready,
           version, queued + (decoding ? 1 : 0));
  h.set_queue(0, "requests", queued, max_queued);
}

health_board::health_board(std::string node, int64_t pid) : node_(std::move(node)), pid_(pid) {}

std::shared_ptr<health_cell> health_board::enlist(const std::string& role,
                                                  const std::string& name,
                                                  const caf::actor& handle,
                                                  health_clock::time_point now) {
  std::lock_guard<std::mutex> g(mu_);
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const entry& e) { return e.cell.expired(); }),
                 entries_.end());
  if (entries_.size() >= capacity)
    return nullptr;
  auto cell = std::make_shared<health_cell>(role, name, next_incarnation_++, now);
  entries_.push_back({cell, handle});
  return cell;
}

health_beat health_board::collect(health_clock::time_point now) {
  std::vector<entry> live;
  {
    std::lock_guard<std::mutex> g(mu_);
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [](const entry& e) { return e.cell.expired(); }),
                   entries_.end());
    live = entries_;
  }
  health_beat beat;
  beat.node = node_;
  beat.pid = pid_;
  for (auto& e : live) {
    auto cell = e.cell.lock();
    if (!cell)
      continue;
    beat.reports.push_back(cell->read(now));
    beat.reports.back().node = node_;
    beat.reports.back().pid = pid_;
    beat.handles.push_back(e.handle);
  }
  std::lock_guard<std::mutex> g(mu_);
  for (auto& r : beat.reports)
    r.seq = ++seq_;
  return beat;
}

size_t health_board::size() const {
  std::lock_guard<std::mutex> g(mu_);
  return entries_.size();
}

namespace {

std::mutex boards_mu;
// Keyed by the system's address; guarded by boards_mu. An entry is removed
// (set_health_board(sys, nullptr)) before its system is destroyed.
std::map<const caf::actor_system*, std::shared_ptr<health_board>> boards;

} // namespace

std::shared_ptr<health_board> health_board_of(const caf::actor_system& sys) {
  std::lock_guard<std::mutex> g(boards_mu);
  auto it = boards.find(&sys);
  return it == boards.end() ? nullptr : it->second;
}

void set_health_board(const caf::actor_system& sys, std::shared_ptr<health_board> b) {
  std::lock_guard<std::mutex> g(boards_mu);
  if (b)
    boards[&sys] = std::move(b);
  else
    boards.erase(&sys);
}

std::shared_ptr<health_cell> enlist_health(const caf::actor_system& sys, const std::string& role,
                                           const std::string& name, const caf::actor& handle) {
  auto b = health_board_of(sys);
  return b ? b->enlist(role, name, handle) : nullptr;
}

} // namespace tandem
