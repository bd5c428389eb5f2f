#include "topology/effective_config.hpp"

#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "runtime/error.hpp"

namespace tandem {

namespace {

namespace fs = std::filesystem;

std::string absolute(const std::string& path, const fs::path& base) {
  fs::path p(path);
  if (p.is_relative())
    p = base / p;
  return p.lexically_normal().string();
}

/// node[section][key], made absolute against `base` when set.
void absolutize(YAML::Node root, const char* section, const char* key, const fs::path& base) {
  auto sec = root[section];
  if (!sec || !sec.IsMap() || !sec[key] || !sec[key].IsScalar())
    return;
  auto v = sec[key].as<std::string>();
  if (!v.empty())
    sec[key] = absolute(v, base);
}

void apply(YAML::Node root, const run_overrides& o) {
  if (o.steps)
    root["run"]["steps"] = *o.steps;
  if (o.output_dir)
    root["run"]["output_dir"] = *o.output_dir;
  if (o.target_reward)
    root["run"]["target_reward"] = *o.target_reward;
  if (o.max_staleness)
    root["run"]["max_staleness"] = *o.max_staleness;
  if (o.learning_rate)
    root["learner"]["lr"] = *o.learning_rate;
  if (o.max_head_restarts)
    root["run"]["max_head_restarts"] = *o.max_head_restarts;
}

} // namespace

caf::expected<std::string> effective_config_yaml(const std::string& source_path,
                                                 const run_overrides& overrides) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(source_path);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_config, source_path + ": " + e.what());
  }
  if (!root.IsMap())
    return make_error(errc::invalid_config, source_path + ": not a YAML mapping");
  apply(root, overrides);
  auto cwd = fs::current_path();
  auto dir = fs::absolute(fs::path(source_path)).parent_path();
  if (!root["run"]["output_dir"])
    root["run"]["output_dir"] = run_section{}.output_dir;
  absolutize(root, "run", "output_dir", cwd);
  absolutize(root, "model", "hf_path", dir);
  absolutize(root, "task", "path", dir);
  absolutize(root, "task", "tokenizer", dir);
  absolutize(root, "task", "eval_path", dir);
  if (auto c = root["cluster"]; c && c.IsMap())
    absolutize(c, "security", "secret_file", cwd);
  YAML::Emitter out;
  out << root;
  if (!out.good())
    return make_error(errc::invalid_config, source_path + ": " + out.GetLastError());
  return "# The effective config of this run: " + fs::absolute(source_path).string()
         + "\n# with the command line's overrides and absolute paths. A restarted head,\n"
           "# `tandem resume` and the run's local workers read this file.\n"
         + std::string(out.c_str()) + "\n";
}

} // namespace tandem

namespace tandem {

namespace {

std::string text_of(const YAML::Node& n) {
  if (!n)
    return "(absent)";
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::optional<std::string> differs(const YAML::Node& a, const YAML::Node& b,
                                   const std::string& name) {
  auto ta = text_of(a), tb = text_of(b);
  if (ta == tb)
    return std::nullopt;
  if (a && b && a.IsMap() && b.IsMap()) {
    for (auto kv : a)
      if (auto d = differs(kv.second, b[kv.first.as<std::string>()],
                           name + "." + kv.first.as<std::string>()))
        return d;
    for (auto kv : b)
      if (!a[kv.first.as<std::string>()])
        return name + "." + kv.first.as<std::string>() + ": absent in the checkpoint, "
               + text_of(kv.second) + " now";
  }
  return name + ": " + ta + " in the checkpoint, " + tb + " now";
}

} // namespace

std::optional<std::string> incompatible_field(const std::string& checkpoint_yaml,
                                              const std::string& current_yaml) {
  YAML::Node a, b;
  try {
    a = YAML::Load(checkpoint_yaml);
    b = YAML::Load(current_yaml);
  } catch (const std::exception& e) {
    return std::string("config: ") + e.what();
  }
  for (auto* section : {"model", "task"})
    if (auto d = differs(a[section], b[section], section))
      return d;
  for (auto* key : {"seed", "group_size", "groups_per_step", "max_staleness"})
    if (auto d = differs(a["run"][key], b["run"][key], std::string("run.") + key))
      return d;
  return std::nullopt;
}

} // namespace tandem
