// cluster_loader.cpp: YAML -> topology::Cluster through protobuf reflection.
//
// yaml_to_proto walks a YAML mapping and looks every key up as a field of the
// target message's Descriptor, so the .proto is the only schema. It records
// the position of every written field in a source_map (for the semantic
// checks) and marks fields whose value could not be mapped as invalid (so
// that rules reading them stay silent).
#include "topology/cluster_loader.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include "topology/cluster_checks.hpp"
#include "topology/internal/yaml_binder.hpp"
#include "topology/internal/yaml_guard.hpp"

namespace tandem {

namespace {

namespace pb = google::protobuf;
using fd = pb::FieldDescriptor;

source_map::pos to_pos(const YAML::Mark& mark) {
  auto p = internal::to_position(mark);
  return {p.line, p.column};
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// Parses a whole decimal integer in [lo, hi]; else returns false and says why.
bool parse_integer(const std::string& text, long long lo, long long hi,
                   long long& out, std::string& why) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (end != s && *end == '\0') {
    if (errno != ERANGE && v >= lo && v <= hi) {
      out = v;
      return true;
    }
    why = "got " + text + ", out of range [" + std::to_string(lo) + ", "
          + std::to_string(hi) + "]";
    return false;
  }
  char* dend = nullptr;
  double d = std::strtod(s, &dend);
  bool number = dend != s && *dend == '\0' && std::isfinite(d);
  why = number ? "got fractional value " + text : "got '" + text + "'";
  return false;
}

/// Names of the settable values of an enum (value 0 is "unspecified").
std::vector<std::string> enum_names(const pb::EnumDescriptor* e) {
  std::vector<std::string> names;
  for (int i = 0; i < e->value_count(); ++i)
    if (e->value(i)->number() != 0)
      names.push_back(lower(e->value(i)->name()));
  return names;
}

std::string join(const std::vector<std::string>& names, const char* sep) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : sep) + names[i];
  return out;
}

std::vector<std::string> field_names(const pb::Descriptor* d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i)
    names.push_back(d->field(i)->name());
  return names;
}

class yaml_to_proto {
public:
  yaml_to_proto(std::string file, source_map& marks)
    : file_(std::move(file)), marks_(marks) {}

  void issue(source_map::pos p, const std::string& path, std::string message) {
    issues_.push_back(config_issue{file_, p.line, p.column, path, std::move(message)});
  }

  /// Maps a YAML mapping onto `msg`; null = empty message.
  void map_message(const YAML::Node& node, const std::string& path, pb::Message& msg) {
    if (node.IsNull())
      return;
    if (!node.IsMap())
      return bad(path, std::string("expected a mapping of fields, got ") + kind(node));
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first; // copies: it-> is a temporary proxy
      const YAML::Node value = it->second;
      map_entry(key, value, path, msg, seen);
    }
  }

  std::vector<config_issue> take_issues() { return std::move(issues_); }

private:
  static const char* kind(const YAML::Node& n) {
    if (n.IsSequence())
      return "a list";
    if (n.IsMap())
      return "a mapping";
    if (n.IsScalar())
      return "a single value";
    return "nothing";
  }

  void bad(const std::string& path, std::string message) {
    issue(marks_.where(path), path, std::move(message));
    marks_.mark_invalid(path);
  }

  void map_entry(const YAML::Node& key, const YAML::Node& value, const std::string& path,
                 pb::Message& msg, std::set<std::string>& seen) {
    if (!key.IsScalar())
      return issue(to_pos(key.Mark()), path, "field names must be plain words");
    const std::string name = key.Scalar();
    const std::string field_path = path + "." + name;
    if (!seen.insert(name).second)
      return issue(to_pos(key.Mark()), field_path, "duplicate field (already set above)");
    const fd* f = msg.GetDescriptor()->FindFieldByName(name);
    if (f == nullptr)
      return unknown_field(key, field_path, name, msg.GetDescriptor());
    // Scalars are located at their value; a mapping or list (whose mark is
    // its first entry) and a null value (no useful mark) at their key.
    marks_.mark(field_path, to_pos(value.IsScalar() ? value.Mark() : key.Mark()));
    if (f->is_repeated())
      map_repeated(value, field_path, msg, f);
    else
      map_value(value, field_path, msg, f, false);
  }

  void unknown_field(const YAML::Node& key, const std::string& path,
                     const std::string& name, const pb::Descriptor* d) {
    auto names = field_names(d);
    std::string hint = internal::closest_name(name, names);
    std::string message = hint.empty()
                            ? "unknown field (known: " + join(names, ", ") + ")"
                            : "unknown field; did you mean '" + hint + "'?";
    issue(to_pos(key.Mark()), path, message);
    // The field the user probably meant is unknown rather than absent: keep
    // rules that read it quiet (a typo'd `gpu:` must not also say "0 GPUs").
    if (!hint.empty())
      marks_.mark_invalid(parent_path(path) + "." + hint);
  }

  void map_repeated(const YAML::Node& value, const std::string& path, pb::Message& msg,
                    const fd* f) {
    if (value.IsNull())
      return;
    if (!value.IsSequence())
      return bad(path, std::string("expected a list, got ") + kind(value));
    for (size_t i = 0; i < value.size(); ++i) {
      const YAML::Node item = value[i];
      std::string item_path = path + "[" + std::to_string(i) + "]";
      if (!item.IsNull())
        marks_.mark(item_path, to_pos(item.Mark()));
      map_value(item, item_path, msg, f, true);
    }
  }

  /// One value of field `f` (set, or appended when `add`).
  void map_value(const YAML::Node& v, const std::string& path, pb::Message& msg,
                 const fd* f, bool add) {
    const pb::Reflection* r = msg.GetReflection();
    if (f->cpp_type() == fd::CPPTYPE_MESSAGE) {
      pb::Message* sub = add ? r->AddMessage(&msg, f) : r->MutableMessage(&msg, f);
      return map_message(v, path, *sub);
    }
    std::string text;
    if (!scalar(v, path, expected(f), text))
      return;
    switch (f->cpp_type()) {
      case fd::CPPTYPE_INT32:
      case fd::CPPTYPE_INT64:
      case fd::CPPTYPE_UINT32:
      case fd::CPPTYPE_UINT64:
        return set_integer(v, text, path, msg, f, add);
      case fd::CPPTYPE_DOUBLE:
      case fd::CPPTYPE_FLOAT:
        return set_number(v, text, path, msg, f, add);
      case fd::CPPTYPE_BOOL:
        return set_bool(v, text, path, msg, f, add);
      case fd::CPPTYPE_ENUM:
        return set_enum(text, path, msg, f, add);
      case fd::CPPTYPE_STRING:
        return add ? r->AddString(&msg, f, text) : r->SetString(&msg, f, text);
      default:
        return bad(path, "field type not supported in YAML");
    }
  }

  static std::string expected(const fd* f) {
    switch (f->cpp_type()) {
      case fd::CPPTYPE_INT32: return "a 32-bit integer";
      case fd::CPPTYPE_INT64: return "a 64-bit integer";
      case fd::CPPTYPE_UINT32: return "a non-negative 32-bit integer";
      case fd::CPPTYPE_UINT64: return "a non-negative 63-bit integer";
      case fd::CPPTYPE_DOUBLE:
      case fd::CPPTYPE_FLOAT: return "a number";
      case fd::CPPTYPE_BOOL: return "true or false";
      case fd::CPPTYPE_ENUM: return "one of " + join(enum_names(f->enum_type()), ", ");
      default: return "a string";
    }
  }

  bool scalar(const YAML::Node& v, const std::string& path, const std::string& what,
              std::string& out) {
    if (!v.IsScalar()) {
      bad(path, "expected " + what + ", got " + kind(v));
      return false;
    }
    out = v.Scalar();
    return true;
  }

  static bool quoted(const YAML::Node& v) { return v.Tag() == "!"; }

  void set_integer(const YAML::Node& v, const std::string& text, const std::string& path,
                   pb::Message& msg, const fd* f, bool add) {
    using lim32 = std::numeric_limits<int32_t>;
    using lim64 = std::numeric_limits<int64_t>;
    long long lo = lim64::min(), hi = lim64::max();
    if (f->cpp_type() == fd::CPPTYPE_INT32)
      lo = lim32::min(), hi = lim32::max();
    if (f->cpp_type() == fd::CPPTYPE_UINT32)
      lo = 0, hi = std::numeric_limits<uint32_t>::max();
    if (f->cpp_type() == fd::CPPTYPE_UINT64)
      lo = 0;
    long long x = 0;
    std::string why = "got the string '" + text + "'";
    if (quoted(v) || !parse_integer(text, lo, hi, x, why))
      return bad(path, "expected " + expected(f) + " (" + why + ")");
    const pb::Reflection* r = msg.GetReflection();
    switch (f->cpp_type()) {
      case fd::CPPTYPE_INT32:
        return add ? r->AddInt32(&msg, f, int32_t(x)) : r->SetInt32(&msg, f, int32_t(x));
      case fd::CPPTYPE_INT64:
        return add ? r->AddInt64(&msg, f, x) : r->SetInt64(&msg, f, x);
      case fd::CPPTYPE_UINT32:
        return add ? r->AddUInt32(&msg, f, uint32_t(x)) : r->SetUInt32(&msg, f, uint32_t(x));
      default:
        return add ? r->AddUInt64(&msg, f, uint64_t(x)) : r->SetUInt64(&msg, f, uint64_t(x));
    }
  }

  void set_number(const YAML::Node& v, const std::string& text, const std::string& path,
                  pb::Message& msg, const fd* f, bool add) {
    const char* s = text.c_str();
    char* end = nullptr;
    double d = std::strtod(s, &end);
    if (quoted(v) || end == s || *end != '\0' || !std::isfinite(d))
      return bad(path, "expected a finite number (got '" + text + "')");
    const pb::Reflection* r = msg.GetReflection();
    if (f->cpp_type() == fd::CPPTYPE_FLOAT)
      return add ? r->AddFloat(&msg, f, float(d)) : r->SetFloat(&msg, f, float(d));
    add ? r->AddDouble(&msg, f, d) : r->SetDouble(&msg, f, d);
  }

  void set_bool(const YAML::Node& v, const std::string& text, const std::string& path,
                pb::Message& msg, const fd* f, bool add) {
    bool b = false;
    if (quoted(v) || !YAML::convert<bool>::decode(v, b))
      return bad(path, "expected true or false (got '" + text + "')");
    const pb::Reflection* r = msg.GetReflection();
    add ? r->AddBool(&msg, f, b) : r->SetBool(&msg, f, b);
  }

  void set_enum(const std::string& text, const std::string& path, pb::Message& msg,
                const fd* f, bool add) {
    const pb::EnumValueDescriptor* e = nullptr;
    if (text == lower(text))
      e = f->enum_type()->FindValueByName(upper(text));
    if (e == nullptr || e->number() == 0) {
      auto names = enum_names(f->enum_type());
      std::string hint = internal::closest_name(lower(text), names);
      return bad(path, "expected one of " + join(names, ", ") + " (got '" + text + "')"
                         + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
    }
    const pb::Reflection* r = msg.GetReflection();
    add ? r->AddEnum(&msg, f, e) : r->SetEnum(&msg, f, e);
  }

  std::string file_;
  source_map& marks_;
  std::vector<config_issue> issues_;
};

/// The one document of the file; an undefined node (after an issue) if it
/// cannot be read or is not a mapping.
YAML::Node parse_document(const std::string& text, yaml_to_proto& m) {
  std::vector<YAML::Node> docs;
  if (internal::find_stray_flow_entry(text))
    return YAML::Node(YAML::NodeType::Undefined); // reported by load_run_config
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    m.issue(to_pos(e.mark), "", "YAML syntax error: " + e.msg);
    return YAML::Node(YAML::NodeType::Undefined);
  }
  if (docs.empty() || !docs[0].IsMap())
    return YAML::Node(YAML::NodeType::Undefined); // reported by load_run_config
  return docs[0];
}

/// Maps the top-level `cluster:` value; returns false if the key is absent.
bool map_cluster(const YAML::Node& doc, yaml_to_proto& m, source_map& marks,
                 topology::Cluster& out) {
  bool found = false;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar() || key.Scalar() != "cluster")
      continue;
    if (found) {
      m.issue(to_pos(key.Mark()), "cluster", "duplicate field (already set above)");
      continue;
    }
    found = true;
    if (!value.IsMap()) {
      m.issue(to_pos(value.IsNull() ? key.Mark() : value.Mark()), "cluster",
              "expected a mapping (name, head, nodes, groups, transports, security); "
              "remove the key for the default one-machine cluster");
      marks.mark_invalid("cluster");
      continue;
    }
    marks.mark("cluster", to_pos(key.Mark()));
    m.map_message(value, "cluster", out);
  }
  return found;
}

void sort_issues(std::vector<config_issue>& issues) {
  auto key = [](const config_issue& x) {
    return std::make_pair(x.line == 0 ? std::numeric_limits<int>::max() : x.line,
                          x.column);
  };
  std::stable_sort(issues.begin(), issues.end(),
                   [&](const auto& a, const auto& b) { return key(a) < key(b); });
}

} // namespace

cluster_result parse_cluster_text(const std::string& text, const std::string& name,
                                  const learner_demand& learner) {
  cluster_result result;
  source_map& marks = result.marks;
  yaml_to_proto mapper(name, marks);
  YAML::Node doc = parse_document(text, mapper);
  bool found = doc.IsDefined() && map_cluster(doc, mapper, marks, result.cluster);
  result.issues = mapper.take_issues();
  result.declared = found;
  if (!found)
    return result; // the short form stands for the layout (process_plan.hpp)
  if (marks.invalid("cluster"))
    return result;
  fill_defaults(result.cluster, marks, learner);
  for (auto& i : check_cluster(result.cluster, marks, name, learner))
    result.issues.push_back(std::move(i));
  sort_issues(result.issues);
  return result;
}

cluster_result parse_cluster_file(const std::string& path, const learner_demand& learner) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) {
    cluster_result result;
    result.issues.push_back(config_issue{path, 0, 0, "", "cannot open file"});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_cluster_text(text.str(), path, learner);
}

} // namespace tandem
