// staleness_figures.cpp: metrics records, per-run figures, the table, the
// claim check and the JSON report of `tandem bench staleness`
// (staleness_figures.hpp).
#include "bench/staleness_figures.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

const json_number* number_field(const json_value& doc, const char* key) {
  auto* v = doc.find(key);
  return v ? v->as_number() : nullptr;
}

/// One line as a step record; `why` says what is wrong when it is not one.
std::optional<step_point> read_step(const std::string& line, std::string* why) {
  auto doc = parse_json(line, {}, json_options{false, errc::malformed_message});
  if (!doc) {
    *why = describe(doc.error());
    return std::nullopt;
  }
  auto* step = doc->find("step");
  auto* reward = number_field(*doc, "reward_mean");
  auto* elapsed = number_field(*doc, "elapsed_s");
  if (!step || !step->as_integer() || !reward || !elapsed) {
    *why = "not a step record (needs step, reward_mean and elapsed_s)";
    return std::nullopt;
  }
  step_point p{*step->as_integer(), reward->value, elapsed->value, 0};
  if (auto* s = number_field(*doc, "staleness_mean"))
    p.staleness = s->value;
  return p;
}

/// Mean reward_mean of steps [from, to).
double mean_reward(const std::vector<step_point>& steps, size_t from, size_t to) {
  double sum = 0;
  for (size_t i = from; i < to; ++i)
    sum += steps[i].reward;
  return to > from ? sum / static_cast<double>(to - from) : 0;
}

} // namespace

caf::expected<std::vector<step_point>> parse_step_records(const std::string& text,
                                                          const std::string& source) {
  std::vector<step_point> out;
  std::istringstream in{text};
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty())
      continue;
    std::string why;
    auto p = read_step(line, &why);
    if (!p) {
      const bool torn_tail = in.eof() && text.back() != '\n';
      if (torn_tail)
        break;
      return make_error(errc::malformed_message, source + ":" + std::to_string(n) + ": " + why);
    }
    while (!out.empty() && out.back().step >= p->step)
      out.pop_back(); // a restarted head recorded these steps again
    out.push_back(*p);
  }
  return out;
}

run_figures figures_of(const std::vector<step_point>& steps, double target) {
  run_figures f;
  f.steps = static_cast<int64_t>(steps.size());
  if (steps.empty())
    return f;
  for (size_t end = reward_window; end <= steps.size(); ++end)
    if (mean_reward(steps, end - reward_window, end) >= target) {
      f.steps_to_target = steps[end - 1].step;
      f.wall_to_target = steps[end - 1].elapsed;
      break;
    }
  auto n = steps.size();
  f.final_reward = mean_reward(steps, n > reward_window ? n - reward_window : 0, n);
  double staleness = 0;
  for (auto& s : steps)
    staleness += s.staleness;
  f.staleness = staleness / static_cast<double>(n);
  return f;
}

namespace {

std::string failure_of(const cell_outcome& c) {
  auto seed = "seed " + std::to_string(c.cell.seed) + ": ";
  if (c.how == cell_outcome::state::timed_out)
    return seed + "timed out";
  if (!c.error.empty())
    return seed + c.error;
  return seed + "exit " + std::to_string(c.exit_code);
}

staleness_row summarize_row(const std::vector<const cell_outcome*>& cells) {
  staleness_row r;
  r.eta = cells.front()->cell.eta;
  r.decoupled = cells.front()->cell.decoupled;
  r.seeds = cells.size();
  std::vector<double> steps, wall, reward, staleness;
  for (auto* c : cells) {
    if (c->how != cell_outcome::state::ok) {
      r.failures.push_back(failure_of(*c));
      continue;
    }
    ++r.completed;
    reward.push_back(c->figures.final_reward);
    staleness.push_back(c->figures.staleness);
    if (c->figures.steps_to_target) {
      ++r.reached;
      steps.push_back(static_cast<double>(*c->figures.steps_to_target));
      wall.push_back(c->figures.wall_to_target.value_or(0));
    }
  }
  r.steps_to_target = summarize(steps);
  r.wall_to_target = summarize(wall);
  r.final_reward = summarize(reward);
  r.staleness = summarize(staleness);
  return r;
}

} // namespace

std::vector<staleness_row> summarize_cells(const std::vector<cell_outcome>& cells) {
  std::map<std::pair<int32_t, bool>, std::vector<const cell_outcome*>> by_mode;
  for (auto& c : cells)
    by_mode[{c.cell.eta, !c.cell.decoupled}].push_back(&c); // decoupled first
  std::vector<staleness_row> rows;
  for (auto& [mode, members] : by_mode)
    rows.push_back(summarize_row(members));
  return rows;
}

namespace {

/// `s` padded with spaces to `width` columns (UTF-8: one column per code point).
std::string pad(const std::string& s, size_t width) {
  size_t cols = 0;
  for (unsigned char ch : s)
    cols += (ch & 0xC0) != 0x80;
  return s + std::string(cols < width ? width - cols : 1, ' ');
}

std::string spread_or_dash(const spread& s, int decimals) {
  return s.count == 0 ? "—" : format_spread(s, decimals);
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : sep) + x;
  return out;
}

} // namespace

std::string format_table(const std::vector<staleness_row>& rows) {
  std::string out = pad("eta", 5) + pad("objective", 11) + pad("reached", 9)
                    + pad("steps to target", 22) + pad("wall to target (s)", 26)
                    + pad("final reward", 24) + pad("staleness", 20) + "failed\n";
  for (auto& r : rows) {
    out += pad(std::to_string(r.eta), 5) + pad(r.decoupled ? "decoupled" : "coupled", 11)
           + pad(std::to_string(r.reached) + "/" + std::to_string(r.seeds), 9)
           + pad(spread_or_dash(r.steps_to_target, 0), 22)
           + pad(spread_or_dash(r.wall_to_target, 1), 26)
           + pad(spread_or_dash(r.final_reward, 3), 24)
           + pad(spread_or_dash(r.staleness, 2), 20)
           + (r.failures.empty() ? "-" : join(r.failures, "; ")) + "\n";
  }
  return out;
}

std::optional<claim_check> check_claim(const std::vector<staleness_row>& rows) {
  const staleness_row* low = nullptr;
  const staleness_row* high = nullptr;
  for (auto& r : rows)
    if (r.decoupled) {
      low = !low || r.eta < low->eta ? &r : low;
      high = !high || r.eta > high->eta ? &r : high;
    }
  if (!low || !high || low->eta == high->eta)
    return std::nullopt;
  claim_check c;
  c.eta_high = high->eta;
  c.eta_low = low->eta;
  std::vector<std::string> notes;
  if (high->completed == 0 || low->completed == 0)
    notes.push_back("no completed run in a row");
  else if (low->final_reward.median <= 0)
    notes.push_back("the smaller eta's median final reward is not positive");
  else
    c.reward_ratio = high->final_reward.median / low->final_reward.median;
  if (high->reached == high->seeds && low->reached == low->seeds)
    c.wall_ratio = high->wall_to_target.median / low->wall_to_target.median;
  else
    notes.push_back("wall time needs every seed at the target: eta=" + std::to_string(high->eta)
                    + " reached it in " + std::to_string(high->reached) + "/"
                    + std::to_string(high->seeds) + ", eta=" + std::to_string(low->eta) + " in "
                    + std::to_string(low->reached) + "/" + std::to_string(low->seeds));
  if (high->completed < high->seeds || low->completed < low->seeds)
    notes.push_back("some runs failed or timed out (table)");
  c.within_2_percent = c.reward_ratio && *c.reward_ratio >= 0.98;
  c.less_wall = c.wall_ratio && *c.wall_ratio < 1;
  c.note = join(notes, "; ");
  return c;
}

std::string format_claim(const claim_check& c) {
  auto ratio = [](const std::optional<double>& x) {
    if (!x)
      return std::string("—");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *x);
    return std::string(buf);
  };
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  std::string out = "decoupled, η=" + std::to_string(c.eta_high) + " vs η="
                    + std::to_string(c.eta_low) + ": final reward ratio " + ratio(c.reward_ratio)
                    + " (within 2 %: " + yes(c.within_2_percent) + "), wall time ratio "
                    + ratio(c.wall_ratio) + " (less: " + yes(c.less_wall) + ")\n";
  if (!c.note.empty())
    out += "  note: " + c.note + "\n";
  return out;
}

} // namespace tandem

namespace tandem {

namespace {

std::string num(double x) {
  return std::isfinite(x) ? json_number_text(x) : "null";
}

std::string spread_json(const spread& s) {
  if (s.count == 0)
    return "null";
  return "{\"median\":" + num(s.median) + ",\"min\":" + num(s.min) + ",\"max\":" + num(s.max)
         + ",\"count\":" + std::to_string(s.count) + "}";
}

std::string row_json(const staleness_row& r) {
  std::string failures;
  for (auto& f : r.failures)
    failures += (failures.empty() ? "" : ",") + json_quote(f);
  return "{\"eta\":" + std::to_string(r.eta) + ",\"decoupled\":"
         + (r.decoupled ? "true" : "false") + ",\"seeds\":" + std::to_string(r.seeds)
         + ",\"completed\":" + std::to_string(r.completed)
         + ",\"reached\":" + std::to_string(r.reached)
         + ",\"steps_to_target\":" + spread_json(r.steps_to_target)
         + ",\"wall_to_target_s\":" + spread_json(r.wall_to_target)
         + ",\"final_reward\":" + spread_json(r.final_reward)
         + ",\"staleness_mean\":" + spread_json(r.staleness) + ",\"failures\":[" + failures
         + "]}";
}

const char* state_name(cell_outcome::state s) {
  switch (s) {
    case cell_outcome::state::ok:
      return "ok";
    case cell_outcome::state::failed:
      return "failed";
    default:
      return "timed_out";
  }
}

std::string cell_json(const cell_outcome& c) {
  const auto& f = c.figures;
  return "{\"name\":" + json_quote(cell_name(c.cell)) + ",\"eta\":" + std::to_string(c.cell.eta)
         + ",\"decoupled\":" + (c.cell.decoupled ? "true" : "false")
         + ",\"seed\":" + std::to_string(c.cell.seed) + ",\"state\":\"" + state_name(c.how)
         + "\",\"exit_code\":" + std::to_string(c.exit_code) + ",\"error\":" + json_quote(c.error)
         + ",\"child_wall_s\":" + num(c.child_wall) + ",\"steps\":" + std::to_string(f.steps)
         + ",\"steps_to_target\":"
         + (f.steps_to_target ? std::to_string(*f.steps_to_target) : "null")
         + ",\"wall_to_target_s\":" + (f.wall_to_target ? num(*f.wall_to_target) : "null")
         + ",\"final_reward\":" + num(f.final_reward) + ",\"staleness_mean\":" + num(f.staleness)
         + "}";
}

std::string claim_json(const std::optional<claim_check>& c) {
  if (!c)
    return "null";
  auto opt = [](const std::optional<double>& x) { return x ? num(*x) : "null"; };
  return "{\"eta_high\":" + std::to_string(c->eta_high) + ",\"eta_low\":"
         + std::to_string(c->eta_low) + ",\"final_reward_ratio\":" + opt(c->reward_ratio)
         + ",\"within_2_percent\":" + (c->within_2_percent ? "true" : "false")
         + ",\"wall_time_ratio\":" + opt(c->wall_ratio)
         + ",\"less_wall_time\":" + (c->less_wall ? "true" : "false")
         + ",\"note\":" + json_quote(c->note) + "}";
}

template <class T, class F>
std::string array_json(const std::vector<T>& xs, F f) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i)
    out += (i ? ",\n  " : "\n  ") + f(xs[i]);
  return out + "]";
}

} // namespace

std::string report_json(const staleness_setup& s, const std::vector<staleness_row>& rows,
                        const std::vector<cell_outcome>& cells,
                        const std::optional<claim_check>& claim) {
  std::string etas = "[";
  for (auto e : s.etas)
    etas += (etas.size() > 1 ? "," : "") + std::to_string(e);
  etas += "]";
  return "{\"bench\":\"staleness\",\"config\":" + json_quote(s.config)
         + ",\"out_dir\":" + json_quote(s.out_dir) + ",\"target_reward\":" + num(s.target)
         + ",\"steps\":" + std::to_string(s.steps) + ",\"etas\":" + etas
         + ",\"seeds\":" + std::to_string(s.seeds) + ",\"parallel\":" + std::to_string(s.parallel)
         + ",\"hardware_threads\":" + std::to_string(s.hardware_threads)
         + ",\"pinning\":" + json_quote(s.pinning) + ",\"run_timeout_s\":" + num(s.run_timeout_s)
         + ",\n\"rows\":" + array_json(rows, row_json) + ",\n\"cells\":"
         + array_json(cells, cell_json) + ",\n\"claim\":" + claim_json(claim) + "}\n";
}

} // namespace tandem
