// unicode.cpp: UTF-8, character classes and NFC over the generated tables.
//
// Tables are sorted ranges searched with std::upper_bound; ASCII (the common
// case in prompts and code) answers from a small switch-free path first.
#include "tasks/internal/unicode.hpp"

#include "runtime/utf8.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tandem::unicode {

namespace unicode_data {

struct code_range {
  char32_t first;
  char32_t last;
};
struct ccc_range {
  char32_t first;
  char32_t last;
  uint8_t ccc;
};
struct decomposition {
  char32_t cp;
  uint16_t offset;
  uint8_t length;
};
struct composition {
  char32_t first;
  char32_t second;
  char32_t composite;
};

#include "tasks/internal/unicode_tables.inc"

} // namespace unicode_data

namespace {

using namespace unicode_data;

// Hangul syllable arithmetic (Unicode 3.12).
constexpr char32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
constexpr char32_t l_count = 19, v_count = 21, t_count = 28;
constexpr char32_t n_count = v_count * t_count, s_count = l_count * n_count;

template <size_t N>
bool in_ranges(const code_range (&table)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](char32_t c, const code_range& r) { return c < r.first; });
  return it != std::begin(table) && cp <= std::prev(it)->last;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300)
    return 0;
  auto it = std::upper_bound(std::begin(combining_classes), std::end(combining_classes), cp,
                             [](char32_t c, const ccc_range& r) { return c < r.first; });
  if (it == std::begin(combining_classes) || cp > std::prev(it)->last)
    return 0;
  return std::prev(it)->ccc;
}

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= s_base && cp < s_base + s_count) {
    const char32_t s = cp - s_base;
    out += l_base + s / n_count;
    out += v_base + (s % n_count) / t_count;
    if (s % t_count != 0)
      out += t_base + s % t_count;
    return;
  }
  auto it = std::lower_bound(std::begin(decompositions), std::end(decompositions), cp,
                             [](const decomposition& d, char32_t c) { return d.cp < c; });
  if (it == std::end(decompositions) || it->cp != cp) {
    out += cp;
    return;
  }
  out.append(decomposition_pool + it->offset, it->length);
}

// The primary composite of (a, b), or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= l_base && a < l_base + l_count && b >= v_base && b < v_base + v_count)
    return s_base + ((a - l_base) * v_count + (b - v_base)) * t_count;
  if (a >= s_base && a < s_base + s_count && (a - s_base) % t_count == 0 && b > t_base
      && b < t_base + t_count)
    return a + (b - t_base);
  auto key = [](char32_t x, char32_t y) { return (uint64_t{x} << 32) | y; };
  const uint64_t k = key(a, b);
  auto it = std::lower_bound(std::begin(compositions), std::end(compositions), k,
                             [&](const composition& c, uint64_t v) {
                               return key(c.first, c.second) < v;
                             });
  if (it == std::end(compositions) || key(it->first, it->second) != k)
    return 0;
  return it->composite;
}

bool may_change_under_nfc(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    if (in_ranges(nfc_unstable_ranges, next_code_point(s, i)))
      return true;
  }
  return false;
}

// Stable insertion sort of each run of non-starters by combining class.
void canonical_order(std::u32string& d, std::vector<uint8_t>& ccc) {
  ccc.resize(d.size());
  for (size_t i = 0; i < d.size(); ++i)
    ccc[i] = combining_class(d[i]);
  for (size_t i = 1; i < d.size(); ++i) {
    if (ccc[i] == 0)
      continue;
    for (size_t j = i; j > 0 && ccc[j - 1] > ccc[j]; --j) {
      std::swap(ccc[j - 1], ccc[j]);
      std::swap(d[j - 1], d[j]);
    }
  }
}

// Canonical composition in place (UAX #15, D117); `ccc` parallels `d`.
void canonical_compose(std::u32string& d, const std::vector<uint8_t>& ccc) {
  if (d.empty())
    return;
  size_t starter = 0, out = 1;
  // A leading non-starter blocks everything after it from composing with it.
  int last_class = ccc[0] == 0 ? 0 : 256;
  for (size_t i = 1; i < d.size(); ++i) {
    const char32_t c = d[i];
    const int cls = ccc[i];
    const char32_t composite = last_class == 256 ? 0 : compose(d[starter], c);
    if (composite != 0 && (last_class < cls || last_class == 0)) {
      d[starter] = composite;
      continue;
    }
    if (cls == 0)
      starter = out;
    last_class = cls;
    d[out++] = c;
  }
  d.resize(out);
}

// Length of the well-formed sequence at p (Unicode Table 3-7), or the length
// of its maximal ill-formed prefix negated (-1..-3).
int utf8_sequence(const unsigned char* p, size_t avail) {
  if (p[0] < 0x80)
    return 1;
  const auto lead = tandem::utf8_lead_of(p[0]);
  const int n = lead.length;
  if (n == 0 || avail < 2 || p[1] < lead.lo || p[1] > lead.hi)
    return -1;
  for (int i = 2; i < n; ++i)
    if (static_cast<size_t>(i) >= avail || p[i] < 0x80 || p[i] > 0xBF)
      return -i;
  return n;
}

} // namespace

const char* unicode_version() {
  return unicode_data::unicode_version;
}

size_t find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_sequence(p + i, s.size() - i);
    if (n < 0)
      return i;
    i += static_cast<size_t>(n);
  }
  return std::string_view::npos;
}

char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  char32_t cp;
  if (b < 0x80) {
    cp = b;
    i += 1;
  } else if (b < 0xE0) {
    cp = (char32_t{b & 0x1Fu} << 6) | cont(1);
    i += 2;
  } else if (b < 0xF0) {
    cp = (char32_t{b & 0x0Fu} << 12) | (cont(1) << 6) | cont(2);
    i += 3;
  } else {
    cp = (char32_t{b & 0x07u} << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    i += 4;
  }
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  tandem::append_utf8(out, static_cast<uint32_t>(cp));
}

bool is_letter(char32_t cp) {
  if (cp < 0x80)
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_ranges(letter_ranges, cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80)
    return cp >= '0' && cp <= '9';
  return in_ranges(number_ranges, cp);
}

bool is_white_space(char32_t cp) {
  if (cp < 0x80)
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return in_ranges(white_space_ranges, cp);
}

std::string nfc(std::string_view s) {
  if (!may_change_under_nfc(s))
    return std::string(s);
  std::u32string d;
  d.reserve(s.size());
  for (size_t i = 0; i < s.size();)
    decompose(next_code_point(s, i), d);
  std::vector<uint8_t> ccc;
  canonical_order(d, ccc);
  canonical_compose(d, ccc);
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : d)
    append_utf8(out, cp);
  return out;
}

std::string utf8_lossy(std::string_view bytes) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (size_t i = 0; i < bytes.size();) {
    const int n = utf8_sequence(p + i, bytes.size() - i);
    if (n > 0) {
      out.append(bytes.data() + i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else {
      out += replacement;
      i += static_cast<size_t>(-n);
    }
  }
  return out;
}

} // namespace tandem::unicode
