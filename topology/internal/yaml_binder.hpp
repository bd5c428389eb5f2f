// yaml_binder.hpp: table-driven binding of YAML mappings onto typed structs.
//
// A section is described by a table of field_binding (key -> setter). The
// binder walks the mapping itself (yaml-cpp 0.7 keeps duplicate keys silently
// on lookup), reports unknown keys with a did-you-mean, duplicates and type
// errors, and records where each present field sits so that later range and
// consistency checks can point at it.
//
// Thread safety: a binder_context belongs to one parse; no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "topology/config_loader.hpp"

namespace tandem::internal {

/// 1-based position in the file; line 0 = unknown.
struct position {
  int line = 0;
  int column = 0;
};

position to_position(const YAML::Mark& mark);

/// Issues of one file plus where every bound field was found.
class binder_context {
public:
  explicit binder_context(std::string file) : file_(std::move(file)) {}

  void add(position pos, std::string field, std::string message);

  /// Records a present field (dotted path) and the position of its value.
  void mark_present(const std::string& field, position pos);
  bool present(const std::string& field) const;
  /// Field position if present, else the position of its enclosing section,
  /// else unknown.
  position where(const std::string& field) const;

  /// A field whose value could not be bound keeps its default; checks on it
  /// are skipped so that one mistake is reported once.
  void mark_invalid(const std::string& field) { invalid_.insert(field); }
  bool invalid(const std::string& field) const { return invalid_.count(field) > 0; }

  std::vector<config_issue> take_issues();

private:
  std::string file_;
  std::vector<config_issue> issues_;
  std::map<std::string, position> present_;
  std::set<std::string> invalid_;
};

/// Binds one value; `path` is the dotted field name. Reports its own issues.
using setter = std::function<void(const YAML::Node& value,
                                  const std::string& path,
                                  binder_context& ctx)>;

struct field_binding {
  std::string key;
  setter set;
  bool suggest = true; // offered in "did you mean" hints
};

field_binding field(std::string key, int32_t& dst);
field_binding field(std::string key, int64_t& dst);
field_binding field(std::string key, uint64_t& dst);
field_binding field(std::string key, double& dst);
field_binding field(std::string key, bool& dst);
field_binding field(std::string key, std::string& dst);
/// A list of strings (a flow [a, b] or block list; a single string is refused).
field_binding field(std::string key, std::vector<std::string>& dst);

/// A count or an inclusive range of counts: "3" (lo = hi = 3) or "3..4".
/// Only the form is checked here; whether lo <= hi is a range rule.
field_binding range_field(std::string key, int32_t& lo, int32_t& hi);

/// A key that must not appear; `message` says why.
field_binding reject(std::string key, std::string message);

/// A string that must be one of `names`.
template <class E>
field_binding bind_enum(std::string key, E& dst,
                        std::vector<std::pair<std::string, E>> names);

/// A nested mapping bound with `fields`.
field_binding bind_section(std::string key, std::vector<field_binding> fields);

/// Binds a mapping (null = empty) found at `path` ("" = top level).
void bind_mapping(const YAML::Node& node, const std::string& path,
                  const std::vector<field_binding>& fields, binder_context& ctx);

/// Closest candidate within edit distance 2, or "" if none.
std::string closest_name(const std::string& word,
                         const std::vector<std::string>& candidates);

// --- implementation of the template -----------------------------------------

/// Reads a scalar string; reports "expected <what>" and returns false when
/// the node is not a scalar.
bool scalar_text(const YAML::Node& value, const std::string& path,
                 const char* what, binder_context& ctx, std::string& out);

template <class E>
field_binding bind_enum(std::string key, E& dst,
                        std::vector<std::pair<std::string, E>> names) {
  auto set = [&dst, names](const YAML::Node& value, const std::string& path,
                           binder_context& ctx) {
    std::string text;
    std::string expected = "one of";
    for (size_t i = 0; i < names.size(); ++i)
      expected += (i == 0 ? " " : ", ") + names[i].first;
    if (!scalar_text(value, path, expected.c_str(), ctx, text))
      return;
    for (const auto& [name, e] : names)
      if (name == text) {
        dst = e;
        return;
      }
    ctx.add(ctx.where(path), path,
            "expected " + expected + " (got '" + text + "')");
    ctx.mark_invalid(path);
  };
  return {std::move(key), std::move(set)};
}

} // namespace tandem::internal
