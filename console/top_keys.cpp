#include "console/top_keys.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

namespace tandem {

namespace {

// An ESC [ or ESC O sequence at bytes[i] (i at the ESC): its key, and how
// many bytes it spans.
std::pair<std::optional<top_key_kind>, size_t> escape_sequence(std::string_view b, size_t i) {
  size_t j = i + 2;
  while (j < b.size() && !(b[j] >= 0x40 && b[j] <= 0x7E))
    ++j; // parameter bytes up to the final one
  if (j >= b.size())
    return {std::nullopt, b.size() - i};
  auto params = b.substr(i + 2, j - i - 2);
  std::optional<top_key_kind> k;
  switch (b[j]) {
    case 'A': k = top_key_kind::up; break;
    case 'B': k = top_key_kind::down; break;
    case 'H': k = top_key_kind::home; break;
    case 'F': k = top_key_kind::end; break;
    case '~':
      if (params == "5")
        k = top_key_kind::page_up;
      else if (params == "6")
        k = top_key_kind::page_down;
      else if (params == "1" || params == "7")
        k = top_key_kind::home;
      else if (params == "4" || params == "8")
        k = top_key_kind::end;
      break;
  }
  return {k, j + 1 - i};
}

} // namespace

std::vector<top_key> decode_keys(std::string_view bytes) {
  std::vector<top_key> out;
  for (size_t i = 0; i < bytes.size();) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c == 0x1b && i + 1 < bytes.size() && (bytes[i + 1] == '[' || bytes[i + 1] == 'O')) {
      auto [k, n] = escape_sequence(bytes, i);
      if (k)
        out.push_back({*k});
      i += n;
      continue;
    }
    ++i;
    if (c == 0x1b)
      out.push_back({top_key_kind::escape});
    else if (c == '\r' || c == '\n')
      out.push_back({top_key_kind::enter});
    else if (c == 0x7f || c == 0x08)
      out.push_back({top_key_kind::backspace});
    else if (c == 0x03)
      out.push_back({top_key_kind::ctrl_c});
    else if (c >= 0x20)
      out.push_back({top_key_kind::character, static_cast<char>(c)});
  }
  return out;
}


namespace {

top_action edit_filter(view_options& v, const top_key& k) {
  switch (k.kind) {
    case top_key_kind::character: v.filter_draft += k.ch; break;
    case top_key_kind::backspace:
      if (!v.filter_draft.empty())
        v.filter_draft.pop_back();
      break;
    case top_key_kind::enter:
      v.filter = v.filter_draft;
      v.editing_filter = false;
      v.selected = v.scroll = 0;
      break;
    case top_key_kind::escape:
      v.filter.clear();
      v.filter_draft.clear();
      v.editing_filter = false;
      break;
    case top_key_kind::ctrl_c: return top_action::quit;
    default: return top_action::none;
  }
  return top_action::redraw;
}

// Moves the selection by `delta` rows (clamped).
void move(view_options& v, long delta, size_t rows, size_t page) {
  auto target = static_cast<long>(v.selected) + delta;
  v.selected = static_cast<size_t>(std::max(0L, target));
  clamp_view(v, rows, page);
}

void cycle_sort(view_options& v, int step) {
  auto n = static_cast<int>(top_column_count);
  v.sort = static_cast<top_column>((static_cast<int>(v.sort) + step + n) % n);
}

} // namespace

top_action handle_key(view_options& v, const top_key& k, size_t rows, size_t page) {
  if (v.editing_filter)
    return edit_filter(v, k);
  auto big = static_cast<long>(std::max<size_t>(page, 1));
  auto ch = k.kind == top_key_kind::character ? k.ch : '\0';
  if (k.kind == top_key_kind::ctrl_c || ch == 'q')
    return top_action::quit;
  if (ch == 's' || ch == 'S')
    cycle_sort(v, ch == 's' ? 1 : -1);
  else if (ch == 'r')
    v.descending = !v.descending;
  else if (ch == '/') {
    v.editing_filter = true;
    v.filter_draft = v.filter;
  } else if (ch == 'd')
    v.show_dead = !v.show_dead;
  else if (k.kind == top_key_kind::escape)
    v.filter.clear();
  else if (k.kind == top_key_kind::up || ch == 'k')
    move(v, -1, rows, page);
  else if (k.kind == top_key_kind::down || ch == 'j')
    move(v, 1, rows, page);
  else if (k.kind == top_key_kind::page_up)
    move(v, -big, rows, page);
  else if (k.kind == top_key_kind::page_down)
    move(v, big, rows, page);
  else if (k.kind == top_key_kind::home || ch == 'g')
    move(v, -static_cast<long>(rows), rows, page);
  else if (k.kind == top_key_kind::end || ch == 'G')
    move(v, static_cast<long>(rows), rows, page);
  else
    return top_action::none;
  return top_action::redraw;
}

} // namespace tandem
