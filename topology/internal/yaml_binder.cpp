// yaml_binder.cpp: scalar conversions, mapping walk, did-you-mean hints.
#include "topology/internal/yaml_binder.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include "runtime/utf8.hpp"

namespace tandem::internal {

position to_position(const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0)
    return {};
  return {mark.line + 1, mark.column + 1};
}

// --- binder_context ----------------------------------------------------------

void binder_context::add(position pos, std::string field, std::string message) {
  issues_.push_back(
    config_issue{file_, pos.line, pos.column, std::move(field), std::move(message)});
}

void binder_context::mark_present(const std::string& field, position pos) {
  present_[field] = pos;
}

bool binder_context::present(const std::string& field) const {
  return present_.count(field) > 0;
}

position binder_context::where(const std::string& field) const {
  for (std::string f = field; !f.empty();) {
    if (auto i = present_.find(f); i != present_.end())
      return i->second;
    auto dot = f.rfind('.');
    f = dot == std::string::npos ? std::string{} : f.substr(0, dot);
  }
  return {};
}

std::vector<config_issue> binder_context::take_issues() {
  // Document order reads best; issues without a position go last.
  auto key = [](const config_issue& x) {
    return std::make_pair(x.line == 0 ? std::numeric_limits<int>::max() : x.line,
                          x.column);
  };
  std::stable_sort(issues_.begin(), issues_.end(),
                   [&](const auto& a, const auto& b) { return key(a) < key(b); });
  return std::move(issues_);
}

// --- scalar conversions ------------------------------------------------------

namespace {

const char* node_kind(const YAML::Node& n) {
  if (n.IsSequence())
    return "a list";
  if (n.IsMap())
    return "a mapping";
  return "nothing";
}

void type_issue(const YAML::Node& value, const std::string& path,
                const std::string& message, binder_context& ctx) {
  ctx.add(ctx.where(path), path, message); // where() handles null values
  ctx.mark_invalid(path);
}

bool plain_scalar(const YAML::Node& value) {
  return value.IsScalar() && value.Tag() != "!"; // "!" = quoted in the file
}

// Parses a decimal integer in [lo, hi]; on failure reports why.
template <class T>
void bind_integer(const YAML::Node& value, const std::string& path,
                  binder_context& ctx, T& dst, const char* what) {
  std::string text;
  if (!scalar_text(value, path, what, ctx, text))
    return;
  if (!plain_scalar(value))
    return type_issue(value, path,
                      std::string("expected ") + what + " (got the string '" + text + "')",
                      ctx);
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  bool negative = !text.empty() && text[0] == '-';
  bool fits = false;
  if (std::is_signed_v<T>) {
    long long v = std::strtoll(s, &end, 10);
    fits = errno != ERANGE && v >= std::numeric_limits<T>::min()
           && v <= std::numeric_limits<T>::max();
    if (fits)
      dst = static_cast<T>(v);
  } else {
    unsigned long long v = std::strtoull(s, &end, 10);
    fits = !negative && errno != ERANGE && v <= std::numeric_limits<T>::max();
    if (fits)
      dst = static_cast<T>(v);
  }
  bool whole = end != s && *end == '\0';
  if (whole && fits)
    return;
  if (whole || (negative && !std::is_signed_v<T>)) {
    return type_issue(value, path,
                      std::string("expected ") + what + " (got " + text
                        + ", out of range)", ctx);
  }
  char* dend = nullptr;
  double d = std::strtod(s, &dend);
  if (dend != s && *dend == '\0' && std::isfinite(d) && d != std::floor(d))
    return type_issue(value, path,
                      std::string("expected ") + what + " (got fractional value "
                        + text + ")", ctx);
  type_issue(value, path, std::string("expected ") + what + " (got '" + text + "')",
             ctx);
}

} // namespace

bool scalar_text(const YAML::Node& value, const std::string& path,
                 const char* what, binder_context& ctx, std::string& out) {
  if (!value.IsScalar()) {
    type_issue(value, path,
               std::string("expected ") + what + ", got " + node_kind(value), ctx);
    return false;
  }
  // Config text reaches prompts and tokenizers: it must be UTF-8 (a YAML
  // escape such as "\uD800" decodes to bytes that are not).
  if (auto bad = utf8_problem(value.Scalar()); !bad.empty()) {
    type_issue(value, path, "not valid UTF-8 (" + bad + ")", ctx);
    return false;
  }
  out = value.Scalar();
  return true;
}

field_binding field(std::string key, int32_t& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            bind_integer(v, p, ctx, dst, "a 32-bit integer");
          }};
}

field_binding field(std::string key, int64_t& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            bind_integer(v, p, ctx, dst, "a 64-bit integer");
          }};
}

field_binding field(std::string key, uint64_t& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            bind_integer(v, p, ctx, dst, "a non-negative 64-bit integer");
          }};
}

field_binding field(std::string key, double& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            std::string text;
            if (!scalar_text(v, p, "a number", ctx, text))
              return;
            const char* s = text.c_str();
            char* end = nullptr;
            double d = std::strtod(s, &end);
            if (!plain_scalar(v) || end == s || *end != '\0' || !std::isfinite(d))
              return type_issue(v, p, "expected a finite number (got '" + text + "')",
                                ctx);
            dst = d;
          }};
}

field_binding field(std::string key, bool& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            std::string text;
            if (!scalar_text(v, p, "true or false", ctx, text))
              return;
            bool b = false;
            if (!plain_scalar(v) || !YAML::convert<bool>::decode(v, b))
              return type_issue(v, p, "expected true or false (got '" + text + "')",
                                ctx);
            dst = b;
          }};
}

field_binding field(std::string key, std::string& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            std::string text;
            if (scalar_text(v, p, "a string", ctx, text))
              dst = text;
          }};
}

field_binding field(std::string key, std::vector<std::string>& dst) {
  return {std::move(key), [&dst](const YAML::Node& v, const std::string& p,
                                 binder_context& ctx) {
            if (!v.IsSequence())
              return type_issue(v, p, std::string("expected a list of strings, got ")
                                        + (v.IsScalar() ? "a single value" : node_kind(v)),
                                ctx);
            std::vector<std::string> items;
            for (const auto& item : v) {
              std::string text;
              if (!scalar_text(item, p, "a list of strings", ctx, text))
                return;
              items.push_back(text);
            }
            dst = std::move(items);
          }};
}

namespace {

// A decimal count in [0, 2^31); nullopt otherwise.
std::optional<int32_t> parse_count(const std::string& s) {
  if (s.empty() || s.size() > 10)
    return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > std::numeric_limits<int32_t>::max())
    return std::nullopt;
  return static_cast<int32_t>(v);
}

} // namespace

field_binding range_field(std::string key, int32_t& lo, int32_t& hi) {
  return {std::move(key), [&lo, &hi](const YAML::Node& v, const std::string& p,
                                     binder_context& ctx) {
            const char* what = "a count N or a range A..B";
            std::string text;
            if (!scalar_text(v, p, what, ctx, text))
              return;
            const auto dots = text.find("..");
            auto a = parse_count(text.substr(0, dots));
            auto b = dots == std::string::npos ? a : parse_count(text.substr(dots + 2));
            if (!a || !b)
              return type_issue(v, p, std::string("expected ") + what + " (got '" + text + "')",
                                ctx);
            lo = *a;
            hi = *b;
          }};
}

field_binding reject(std::string key, std::string message) {
  // bind_mapping records a non-suggested key at the key's own position.
  auto set = [message](const YAML::Node&, const std::string& p, binder_context& ctx) {
    ctx.add(ctx.where(p), p, message);
  };
  return {std::move(key), std::move(set), false};
}

field_binding bind_section(std::string key, std::vector<field_binding> fields) {
  return {std::move(key), [fields = std::move(fields)](const YAML::Node& v,
                                                       const std::string& p,
                                                       binder_context& ctx) {
            bind_mapping(v, p, fields, ctx);
          }};
}

// --- mapping walk ------------------------------------------------------------

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void unknown_key(const YAML::Node& key_node, const std::string& key,
                 const std::string& path, const std::vector<field_binding>& fields,
                 binder_context& ctx) {
  std::vector<std::string> names;
  for (const auto& f : fields)
    if (f.suggest)
      names.push_back(f.key);
  std::string hint = closest_name(key, names);
  std::string message = "unknown field";
  if (!hint.empty()) {
    message += "; did you mean '" + hint + "'?";
  } else {
    message += " (known:";
    for (const auto& n : names)
      message += " " + n;
    message += ")";
  }
  ctx.add(to_position(key_node.Mark()), join_path(path, key), message);
}

} // namespace

std::string closest_name(const std::string& word,
                         const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = 3; // only suggest within distance 2
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

void bind_mapping(const YAML::Node& node, const std::string& path,
                  const std::vector<field_binding>& fields, binder_context& ctx) {
  if (node.IsNull())
    return;
  if (!node.IsMap()) {
    ctx.add(to_position(node.Mark()), path.empty() ? std::string{} : path,
            std::string("expected a mapping of fields, got ")
              + (node.IsSequence() ? "a list" : "a single value"));
    return;
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key_node = it->first; // copies: it-> is a temporary proxy
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      ctx.add(to_position(key_node.Mark()), path, "field names must be plain words");
      continue;
    }
    std::string key = key_node.Scalar();
    std::string field = join_path(path, key);
    if (!seen.insert(key).second) {
      ctx.add(to_position(key_node.Mark()), field,
              "duplicate field (already set above)");
      continue;
    }
    auto f = std::find_if(fields.begin(), fields.end(),
                          [&](const field_binding& b) { return b.key == key; });
    if (f == fields.end()) {
      unknown_key(key_node, key, path, fields, ctx);
      continue;
    }
    // A null value has no useful mark of its own; point at the key then.
    auto pos = to_position(value.IsNull() ? key_node.Mark() : value.Mark());
    ctx.mark_present(field, f->suggest ? pos : to_position(key_node.Mark()));
    f->set(value, field, ctx);
  }
}

} // namespace tandem::internal
