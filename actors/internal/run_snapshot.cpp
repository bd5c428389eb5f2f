#include "actors/internal/run_snapshot.hpp"

#include <algorithm>
#include <sstream>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

template <class T>
std::string join(const std::vector<T>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += ",";
    if constexpr (std::is_floating_point_v<T>)
      out += json_number_text(x);
    else
      out += std::to_string(x);
  }
  return "[" + out + "]";
}

struct reader {
  const json_value& doc;
  const std::string& source;
  caf::error err;

  const json_value* get(const char* key) {
    auto* v = doc.find(key);
    if (v == nullptr && !err)
      err = make_error(errc::malformed_message, source + ": missing field '" + key + "'");
    return v;
  }
  void integer(const char* key, uint64_t& out) {
    auto* v = get(key);
    auto* i = v ? v->as_integer() : nullptr;
    if (v && (i == nullptr || *i < 0)) {
      if (!err)
        err = make_error(errc::malformed_message, source + ": '" + key + "' must be a count");
      return;
    }
    if (i)
      out = static_cast<uint64_t>(*i);
  }
  void number(const char* key, double& out) {
    auto* v = get(key);
    if (auto* n = v ? v->as_number() : nullptr)
      out = n->value;
    else if (v && !err)
      err = make_error(errc::malformed_message, source + ": '" + key + "' must be a number");
  }
  template <class T>
  void list(const char* key, std::vector<T>& out) {
    auto* v = get(key);
    auto* a = v ? v->as_array() : nullptr;
    if (v && a == nullptr && !err)
      err = make_error(errc::malformed_message, source + ": '" + key + "' must be an array");
    for (size_t i = 0; a && i < a->size(); ++i) {
      auto* n = (*a)[i].as_number();
      if (n == nullptr) {
        if (!err)
          err = make_error(errc::malformed_message, source + ": '" + key + "' holds a non-number");
        return;
      }
      if constexpr (std::is_floating_point_v<T>)
        out.push_back(n->value);
      else
        out.push_back(static_cast<T>(n->is_integer ? n->integer : -1));
    }
  }
};

} // namespace

std::string to_json(const controller_snapshot& s) {
  std::ostringstream o;
  auto& c = s.counters;
  o << "{\"format\":1,\"step\":" << s.step << ",\"problems_drawn\":" << s.problems_drawn
    << ",\"pending\":" << join(s.pending) << ",\"next_group_id\":" << s.next_group_id
    << ",\"admitted\":" << c.admitted << ",\"consumed\":" << c.consumed
    << ",\"dropped\":" << c.dropped << ",\"filtered\":" << c.filtered
    << ",\"requeued\":" << c.requeued
    << ",\"rejected\":" << c.rejected << ",\"stale_refused\":" << s.stale_refused
    << ",\"staleness_violations\":" << s.staleness_violations
    << ",\"skipped_problems\":" << s.skipped_problems << ",\"rewards\":" << join(s.rewards)
    << ",\"elapsed_s\":" << json_number_text(s.elapsed_s) << "}";
  return o.str();
}

caf::expected<controller_snapshot> parse_controller_snapshot(const std::string& text,
                                                             const std::string& source) {
  auto doc = parse_json(text, source, {true, errc::malformed_message});
  if (!doc)
    return doc.error();
  controller_snapshot s;
  reader r{*doc, source, {}};
  uint64_t step = 0;
  r.integer("step", step);
  s.step = static_cast<int64_t>(step);
  r.integer("problems_drawn", s.problems_drawn);
  r.list("pending", s.pending);
  r.integer("next_group_id", s.next_group_id);
  auto& c = s.counters;
  r.integer("admitted", c.admitted);
  r.integer("consumed", c.consumed);
  r.integer("dropped", c.dropped);
  r.integer("filtered", c.filtered); // absent in checkpoints before dynamic sampling
  r.integer("requeued", c.requeued);
  r.integer("rejected", c.rejected);
  r.integer("stale_refused", s.stale_refused);
  r.integer("staleness_violations", s.staleness_violations);
  r.integer("skipped_problems", s.skipped_problems);
  r.list("rewards", s.rewards);
  r.number("elapsed_s", s.elapsed_s);
  if (r.err)
    return r.err;
  return s;
}

caf::error problem_cursor::restore(uint64_t drawn, const std::vector<uint64_t>& pending) {
  std::vector<uint64_t> want(pending);
  std::sort(want.begin(), want.end());
  if (!want.empty() && want.back() >= drawn)
    return make_error(errc::invalid_argument,
                      "checkpoint lists problem " + std::to_string(want.back())
                        + " as pending but only " + std::to_string(drawn) + " were drawn");
  replay_.clear();
  for (uint64_t i = 0; i < drawn; ++i) {
    auto p = src_->next();
    if (std::binary_search(want.begin(), want.end(), p.id))
      replay_.push_back(std::move(p));
  }
  drawn_ = drawn;
  return caf::none;
}

std::vector<uint64_t> problem_cursor::unreplayed() const {
  std::vector<uint64_t> out;
  for (auto& p : replay_)
    out.push_back(p.id);
  return out;
}

problem problem_cursor::next() {
  if (!replay_.empty()) {
    auto p = std::move(replay_.front());
    replay_.pop_front();
    return p;
  }
  ++drawn_;
  return src_->next();
}

} // namespace tandem
