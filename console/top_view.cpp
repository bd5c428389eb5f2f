#include "console/top_view.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace tandem {

// --- text helpers ------------------------------------------------------------

namespace {

// Terminal columns of UTF-8 text: one per code point (the table holds no
// wide characters; names are cut by code point, never inside one).
size_t columns(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string clip(std::string_view s, size_t width) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == width)
      return std::string(s.substr(0, i));
  }
  return std::string(s);
}

// `s` in exactly `width` columns: cut with an ellipsis, or padded.
std::string cell(std::string_view s, size_t width, bool right) {
  auto n = columns(s);
  if (n > width)
    return width == 0 ? std::string() : clip(s, width - 1) + "…";
  std::string pad(width - n, ' ');
  return right ? pad + std::string(s) : std::string(s) + pad;
}

template <class... A>
std::string format(const char* fmt, A... a) {
  char buf[128];
  std::snprintf(buf, sizeof buf, fmt, a...);
  return buf;
}

std::string fixed3(double x) { return std::isfinite(x) ? format("%.3f", x) : "-"; }

std::string rate(double x) {
  if (!std::isfinite(x))
    return "-";
  if (x < 1000)
    return format("%.0f", x);
  if (x < 1e6)
    return format("%.1fk", x / 1e3);
  return format("%.1fM", x / 1e6);
}

std::string age(int64_t ms) {
  auto ll = static_cast<long long>(ms);
  if (ms < 10000)
    return format("%.1fs", static_cast<double>(ms) / 1000);
  if (ms < 120000)
    return format("%llds", ll / 1000);
  if (ms < 7200000)
    return format("%lldm", ll / 60000);
  return format("%lldh", ll / 3600000);
}

std::string duration(double s) {
  auto t = static_cast<long long>(std::isfinite(s) && s > 0 ? s : 0);
  if (t >= 3600)
    return format("%lldh%02lldm%02llds", t / 3600, t / 60 % 60, t % 60);
  if (t >= 60)
    return format("%lldm%02llds", t / 60, t % 60);
  return format("%llds", t);
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string short_state(const std::string& s) {
  return s == "waiting_for_weights" ? "wait_wts" : s;
}

} // namespace

std::string sparkline(const std::vector<double>& values, size_t width) {
  static const char* bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  size_t first = values.size() > width ? values.size() - width : 0;
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = first; i < values.size(); ++i)
    if (std::isfinite(values[i])) {
      lo = std::min(lo, values[i]);
      hi = std::max(hi, values[i]);
    }
  std::string out;
  for (size_t i = first; i < values.size(); ++i) {
    double v = values[i];
    if (!std::isfinite(v))
      out += ' ';
    else if (hi <= lo)
      out += bars[3];
    else
      out += bars[static_cast<int>(std::lround((v - lo) / (hi - lo) * 7))];
  }
  return out;
}

// --- the table -----------------------------------------------------------------

namespace {

struct column_spec {
  const char* name;  // to_string
  const char* label; // the table header
  size_t width;      // 0: the name column, which takes what is left
  bool right;
};

constexpr column_spec specs[top_column_count] = {
  {"role", "ROLE", 8, false},        {"name", "NAME", 0, false},
  {"node", "NODE", 10, false},       {"pid", "PID", 7, true},
  {"state", "STATE", 8, false},      {"version", "VER", 5, true},
  {"in_flight", "INFL", 5, true},    {"queue", "QUEUE", 9, true},
  {"tokens_per_s", "TOK/S", 7, true}, {"heartbeat", "HB", 6, true},
  {"restarts", "RST", 4, true},      {"errors", "ERR", 4, true},
};

// The fixed columns, a space between each and a one-column gutter (the
// selection mark): at 120 columns the name column gets 35.
size_t name_width(int width) {
  size_t fixed = 1 + top_column_count - 1;
  for (auto& s : specs)
    fixed += s.width;
  auto left = width > static_cast<int>(fixed) ? static_cast<size_t>(width) - fixed : 0;
  return std::clamp<size_t>(left, 12, 40);
}

std::pair<uint64_t, uint64_t> queue_totals(const top_actor& a) {
  uint64_t depth = 0, cap = 0;
  for (auto& q : a.queues) {
    depth += q.depth;
    cap += q.capacity;
  }
  return {depth, cap};
}

std::string cell_text(const top_actor& a, top_column c) {
  switch (c) {
    case top_column::role: return a.role;
    case top_column::name: return a.name;
    case top_column::node: return a.node;
    case top_column::pid: return std::to_string(a.pid);
    case top_column::state: return short_state(a.state);
    case top_column::version: return a.version < 0 ? "-" : std::to_string(a.version);
    case top_column::in_flight: return std::to_string(a.in_flight);
    case top_column::queue: {
      if (a.queues.empty())
        return "-";
      auto [depth, cap] = queue_totals(a);
      return std::to_string(depth) + "/" + std::to_string(cap);
    }
    case top_column::tokens_per_s: return rate(a.tokens_per_s);
    case top_column::heartbeat: return age(a.heartbeat_age_ms);
    case top_column::restarts: return std::to_string(a.restarts);
    case top_column::errors: return std::to_string(a.errors);
  }
  return {};
}

template <class T>
int compare(const T& x, const T& y) {
  return x < y ? -1 : y < x ? 1 : 0;
}

int compare_by(const top_actor& a, const top_actor& b, top_column c) {
  switch (c) {
    case top_column::role: return compare(a.role, b.role);
    case top_column::name: return compare(a.name, b.name);
    case top_column::node: return compare(a.node, b.node);
    case top_column::pid: return compare(a.pid, b.pid);
    case top_column::state: return compare(a.state, b.state);
    case top_column::version: return compare(a.version, b.version);
    case top_column::in_flight: return compare(a.in_flight, b.in_flight);
    case top_column::queue: return compare(queue_totals(a).first, queue_totals(b).first);
    case top_column::tokens_per_s: return compare(a.tokens_per_s, b.tokens_per_s);
    case top_column::heartbeat: return compare(a.heartbeat_age_ms, b.heartbeat_age_ms);
    case top_column::restarts: return compare(a.restarts, b.restarts);
    case top_column::errors: return compare(a.errors, b.errors);
  }
  return 0;
}

bool matches(const top_actor& a, const std::string& filter_lower) {
  if (filter_lower.empty())
    return true;
  auto hay = lower(a.role + ' ' + a.name + ' ' + a.node + ' ' + a.state);
  return hay.find(filter_lower) != std::string::npos;
}

} // namespace

const char* to_string(top_column c) {
  auto i = static_cast<size_t>(c);
  return i < top_column_count ? specs[i].name : "?";
}

std::vector<const top_actor*> table_rows(const top_model& m, const view_options& v) {
  std::vector<const top_actor*> rows;
  auto filter = lower(v.filter);
  for (auto& a : m.actors)
    if ((v.show_dead || a.state != "dead") && matches(a, filter))
      rows.push_back(&a);
  std::stable_sort(rows.begin(), rows.end(), [&v](const top_actor* a, const top_actor* b) {
    int c = compare_by(*a, *b, v.sort);
    if (c != 0)
      return v.descending ? c > 0 : c < 0;
    return a->name < b->name;
  });
  return rows;
}

// --- the frame -----------------------------------------------------------------

namespace {

struct line {
  std::string text;
  const char* style = nullptr; // an SGR parameter list ("1;33"), or none
};

const char* row_style(const top_actor& a, bool selected) {
  if (a.state == "dead")
    return selected ? "7;31" : "31";
  if (a.state == "stalled")
    return selected ? "7;33" : "33";
  return selected ? "7" : nullptr;
}

std::string run_line(const top_model& m) {
  auto& r = m.run;
  std::string out = "tandem top  " + m.source + "  " + r.status + "  incarnation "
                    + std::to_string(r.incarnation) + "  elapsed " + duration(r.elapsed_s);
  if (!r.run_dir.empty())
    out += "  " + r.run_dir;
  return out;
}

std::string step_line(const top_run& r) {
  return "step " + std::to_string(r.step) + "/" + std::to_string(r.steps) + "  version "
         + std::to_string(r.version) + "  reward " + fixed3(r.reward_mean) + "  accuracy "
         + fixed3(r.accuracy) + "  tok/s " + rate(r.tokens_per_s) + "  samplers "
         + std::to_string(r.samplers) + "  rewards " + std::to_string(r.rewards)
         + "  scored ok " + std::to_string(r.reward_ok) + " invalid "
         + std::to_string(r.reward_invalid) + " timeout " + std::to_string(r.reward_timeout)
         + " error " + std::to_string(r.reward_error);
}

std::string spark_line(const top_model& m, int width) {
  std::vector<double> values;
  for (auto& [step, reward] : m.rewards)
    values.push_back(reward);
  double lo = INFINITY, hi = -INFINITY;
  for (auto x : values)
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  std::string stats = values.empty() || lo > hi
                        ? std::string("  (no steps yet)")
                        : "  " + fixed3(lo) + " … " + fixed3(hi);
  auto room = static_cast<int>(columns(stats)) + 7;
  auto bars = std::max(1, width - room);
  return "reward " + sparkline(values, static_cast<size_t>(bars)) + stats;
}

std::string counts_line(const top_model& m, const view_options& v) {
  std::string out = "actors " + std::to_string(m.actors.size());
  std::string sep = ": ";
  for (auto& [state, n] : m.counts)
    if (n > 0) {
      out += sep + state + " " + std::to_string(n);
      sep = "  ";
    }
  if (!v.filter.empty())
    out += "   filter \"" + v.filter + "\"";
  if (!v.show_dead)
    out += "   dead hidden";
  return out;
}

std::vector<line> head_lines(const top_model& m, const view_options& v, int width) {
  std::vector<line> out;
  out.push_back({run_line(m), "1"});
  out.push_back({step_line(m.run)});
  if (m.run.cause)
    out.push_back({"!! " + m.run.cause->kind + " for " + duration(m.run.cause->since_s) + ": "
                     + m.run.cause->text,
                   "1;97;41"});
  if (!m.reachable) {
    auto why = m.fetch_error.empty() ? std::string() : " (" + m.fetch_error + ")";
    out.push_back({m.ever_reached ? "reconnecting… data " + duration(m.data_age_s) + " old" + why
                                  : "connecting to " + m.source + "…" + why,
                   "1;33"});
  }
  out.push_back({spark_line(m, width), "32"});
  out.push_back({counts_line(m, v)});
  return out;
}

std::string header_row(const view_options& v, size_t name_w) {
  std::string out = " ";
  for (size_t i = 0; i < top_column_count; ++i) {
    std::string label = specs[i].label;
    if (static_cast<size_t>(v.sort) == i)
      label += v.descending ? "▼" : "▲";
    out += cell(label, specs[i].width ? specs[i].width : name_w, specs[i].right);
    out += i + 1 < top_column_count ? " " : "";
  }
  return out;
}

std::string actor_row(const top_actor& a, bool selected, size_t name_w) {
  std::string out = selected ? ">" : " ";
  for (size_t i = 0; i < top_column_count; ++i) {
    out += cell(cell_text(a, static_cast<top_column>(i)), specs[i].width ? specs[i].width : name_w,
                specs[i].right);
    out += i + 1 < top_column_count ? " " : "";
  }
  return out;
}

std::string footer(const view_options& v, size_t first, size_t last, size_t rows) {
  if (v.editing_filter)
    return "filter: " + v.filter_draft + "_   Enter apply  Esc clear";
  std::string range = rows == 0 ? "no rows" : std::to_string(first + 1) + "-"
                                                 + std::to_string(last) + " of "
                                                 + std::to_string(rows);
  return "q quit  s/S sort  r reverse  / filter  d dead  ↑↓ PgUp PgDn scroll   sort "
         + std::string(to_string(v.sort)) + (v.descending ? " desc" : " asc") + "   " + range;
}

std::string finish(const line& l, int width, bool color, bool fill) {
  auto w = static_cast<size_t>(std::max(0, width));
  auto text = clip(l.text, w);
  if (fill)
    text += std::string(w - columns(text), ' ');
  if (!color || !l.style)
    return text;
  return std::string("\x1b[") + l.style + "m" + text + "\x1b[0m";
}

} // namespace

size_t table_page(const top_model& m, const view_options& v, int height) {
  if (height <= 0)
    return m.actors.size();
  auto above = head_lines(m, v, 80).size() + 1; // + the table header
  auto h = static_cast<size_t>(height);
  return h > above + 1 ? h - above - 1 : 0;
}

std::vector<std::string> render_top(const top_model& m, const view_options& v, int width,
                                    int height) {
  auto lines = head_lines(m, v, width);
  auto name_w = name_width(width);
  lines.push_back({header_row(v, name_w), "7"});
  auto rows = table_rows(m, v);
  auto page = height > 0 ? table_page(m, v, height) : rows.size();
  auto view = v;
  clamp_view(view, rows.size(), page);
  auto last = std::min(rows.size(), view.scroll + page);
  for (size_t i = view.scroll; i < last; ++i) {
    bool selected = height > 0 && i == view.selected;
    lines.push_back({actor_row(*rows[i], selected, name_w), row_style(*rows[i], selected)});
  }
  if (height > 0) {
    lines.resize(static_cast<size_t>(height - 1));
    lines.push_back({footer(v, view.scroll, last, rows.size()), "7"});
  }
  std::vector<std::string> out;
  for (auto& l : lines)
    out.push_back(finish(l, width, v.color, v.color && l.style && l.style[0] == '7'));
  return out;
}

void clamp_view(view_options& v, size_t rows, size_t page) {
  if (rows == 0) {
    v.selected = v.scroll = 0;
    return;
  }
  page = std::max<size_t>(page, 1);
  v.selected = std::min(v.selected, rows - 1);
  if (v.selected < v.scroll)
    v.scroll = v.selected;
  if (v.selected >= v.scroll + page)
    v.scroll = v.selected + 1 - page;
  v.scroll = std::min(v.scroll, rows > page ? rows - page : 0);
}

} // namespace tandem
