// staleness_cells.cpp: cells, their order, configs and command lines
// (staleness_cells.hpp).
#include "bench/staleness_cells.hpp"

#include <algorithm>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"

namespace tandem {

std::string cell_name(const staleness_cell& c) {
  return "eta" + std::to_string(c.eta) + (c.decoupled ? "-decoupled" : "-coupled") + "-seed"
         + std::to_string(c.seed);
}

std::vector<staleness_cell> cell_order(const std::vector<int32_t>& etas, int32_t seeds) {
  std::vector<staleness_cell> modes;
  for (auto eta : etas)
    for (bool decoupled : {true, false})
      modes.push_back({eta, decoupled, 0});
  std::vector<staleness_cell> out;
  for (int32_t k = 0; k < seeds; ++k) {
    auto round = modes;
    if (k % 2 == 1)
      std::reverse(round.begin(), round.end());
    for (auto& m : round) {
      m.seed = static_cast<uint64_t>(k) + 1;
      out.push_back(m);
    }
  }
  return out;
}

caf::expected<std::vector<int32_t>> parse_eta_list(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument, "--eta '" + text + "': " + why);
  };
  std::vector<int32_t> out;
  std::string item;
  std::istringstream in{text};
  while (std::getline(in, item, ',')) {
    auto v = parse_integer(item);
    if (!v)
      return bad("'" + item + "' is not an integer (a comma-separated list such as 0,1,2,4,8)");
    if (*v < 0 || *v > 64)
      return bad(item + " is outside run.max_staleness's range [0, 64]");
    if (std::find(out.begin(), out.end(), *v) != out.end())
      return bad(item + " is listed twice");
    out.push_back(static_cast<int32_t>(*v));
  }
  if (out.empty() || text.back() == ',')
    return bad("an empty item (a comma-separated list such as 0,1,2,4,8)");
  std::sort(out.begin(), out.end());
  return out;
}

caf::expected<std::string> cell_config_yaml(const std::string& effective_yaml,
                                            const staleness_cell& c) {
  YAML::Node root;
  try {
    root = YAML::Load(effective_yaml);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_config, std::string("effective config: ") + e.what());
  }
  if (!root.IsMap())
    return make_error(errc::invalid_config, "effective config: not a YAML mapping");
  root["run"]["max_staleness"] = c.eta;
  root["run"]["seed"] = c.seed;
  root["task"]["seed"] = 1000 + c.seed;
  root["learner"]["decoupled"] = c.decoupled;
  if (!c.decoupled)
    root["learner"].remove("behav_weight_cap");
  YAML::Emitter out;
  out << root;
  if (!out.good())
    return make_error(errc::invalid_config, "effective config: " + out.GetLastError());
  return "# tandem bench staleness, cell " + cell_name(c) + "\n" + std::string(out.c_str())
         + "\n";
}

std::vector<std::string> child_argv(const std::string& tandem_path, const std::string& config,
                                    const std::string& log_path, const std::string& cpus,
                                    const std::string& taskset_path) {
  // $0 is the log, "$@" the command: no word of either is parsed by the shell.
  std::vector<std::string> argv{"/bin/sh", "-c", "exec \"$@\" >\"$0\" 2>&1", log_path};
  if (!cpus.empty())
    argv.insert(argv.end(), {taskset_path, "-c", cpus});
  argv.insert(argv.end(), {tandem_path, "run", config, "--quiet", "--overwrite"});
  return argv;
}

std::string slot_cpus(int32_t slot, int32_t parallel, const std::vector<int32_t>& cpus) {
  const auto n = static_cast<int32_t>(cpus.size());
  if (parallel < 1 || n < parallel || slot < 0 || slot >= parallel)
    return {};
  const int32_t share = n / parallel;
  std::string out;
  for (int32_t i = slot * share; i < (slot + 1) * share; ++i)
    out += (out.empty() ? "" : ",") + std::to_string(cpus[static_cast<size_t>(i)]);
  return out;
}

} // namespace tandem
