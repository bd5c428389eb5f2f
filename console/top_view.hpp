// top_view.hpp: what `tandem top` shows, with no terminal and no socket:
// the renderer that turns a top_model (console/top_model.hpp) into lines of a
// given size, and the view's options (sort, filter, scroll). Keys that change
// the options are in console/top_keys.hpp; console/top_command.cpp owns the
// terminal and the fetching. Everything here is pure, so tests drive it frame
// by frame.
//
// Frame, top to bottom: the run (status, step, reward, tokens/s), the
// watchdog's cause when there is one, "reconnecting…" while the head cannot
// be reached (the last data stays), a reward sparkline, actors per state,
// the actor table (sorted, filtered, scrolled), and the keys.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "console/top_model.hpp"

namespace tandem {

enum class top_column : uint8_t {
  role, name, node, pid, state, version, in_flight, queue, tokens_per_s, heartbeat, restarts,
  errors,
};
constexpr size_t top_column_count = 12;
const char* to_string(top_column c); // "tokens_per_s": the footer names the sort

struct view_options {
  top_column sort = top_column::role; // ties: by name
  bool descending = false;
  std::string filter;       // case-insensitive substring of role, name, node or state
  std::string filter_draft; // typed after '/', applied by Enter
  bool editing_filter = false;
  bool show_dead = true;
  size_t scroll = 0;   // first table row shown
  size_t selected = 0; // highlighted table row
  bool color = false;  // ANSI colors (the full screen); off for --once
};

/// The table's rows: filtered, dead ones dropped unless show_dead, sorted.
std::vector<const top_actor*> table_rows(const top_model& m, const view_options& v);

/// How many table rows fit a frame of `height` lines (0: unlimited).
size_t table_page(const top_model& m, const view_options& v, int height);

/// A frame: exactly `height` lines of at most `width` columns each (code
/// points; colors add escape sequences only). height 0 (--once): every
/// row, no key footer.
std::vector<std::string> render_top(const top_model& m, const view_options& v, int width,
                                    int height);

/// ▁▂▃▄▅▆▇█ over the last `width` values, scaled from their min to max (all
/// equal: ▄); a NaN is a space.
std::string sparkline(const std::vector<double>& values, size_t width);

/// Keeps the selection within `rows` and the scroll so it stays visible.
void clamp_view(view_options& v, size_t rows, size_t page);

} // namespace tandem
