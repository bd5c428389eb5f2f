// top_keys.hpp: `tandem top`'s keys: raw terminal bytes decoded into keys,
// and each key applied to the view's options (console/top_view.hpp).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "console/top_view.hpp"

namespace tandem {

enum class top_key_kind : uint8_t {
  character, enter, escape, backspace, up, down, page_up, page_down, home, end, ctrl_c,
};
struct top_key {
  top_key_kind kind = top_key_kind::character;
  char ch = 0; // for character
};

/// Bytes read from a raw-mode terminal as keys (arrows, PgUp/PgDn, Home/End
/// as ESC sequences; a lone ESC is escape). Unknown sequences are skipped.
std::vector<top_key> decode_keys(std::string_view bytes);

enum class top_action : uint8_t { none, redraw, quit };

/// Applies one key: q or Ctrl-C quit; s/S next/previous sort column; r
/// reverses; / edits the filter (Enter applies, Esc clears); d shows or
/// hides dead actors; arrows, j/k, PgUp/PgDn, Home/End, g/G move the
/// selection. `rows` is the table's length, `page` its visible rows.
top_action handle_key(view_options& v, const top_key& k, size_t rows, size_t page);

} // namespace tandem
