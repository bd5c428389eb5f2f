// plan.cpp: placement rows, the memory model of plan.hpp, device loads and
// the text table.
#include "topology/plan.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "tasks/tokenizer.hpp"
#include "topology/cluster_checks.hpp"
#include "topology/process_plan.hpp"

namespace tandem {

namespace topo = tandem::topology;

namespace {

constexpr int64_t fp32 = 4;
constexpr int64_t activation_factor = 4; // see plan.hpp
constexpr int64_t mib = 1024 * 1024;

int64_t vocab(const model_config& m) {
  return m.vocab_size > 0 ? m.vocab_size : char_tokenizer{}.vocab_size();
}

int64_t head_dim(const model_config& m) {
  return head_dim_of(m); // Qwen3's head_dim may differ from hidden / heads
}

/// Bytes one instance of `role` needs (device or host memory).
int64_t role_bytes(topo::Role role, const memory_estimate& mem) {
  switch (role) {
    case topo::LEARNER: return mem.learner();
    case topo::SAMPLER: return mem.sampler();
    case topo::BROADCASTER: return mem.weights;
    default: return 0;
  }
}

/// Rows of one slot of a process: one for the CPU, or one per device it holds.
void add_rows(const process_plan& proc, const actor_slot& slot, const memory_estimate& mem,
              std::vector<plan_row>& rows) {
  plan_row base{proc.node, proc.host, proc.name, "cpu", role_name(slot.role),
                slot.group, slot.instances, slot.threads, 0};
  const int n = static_cast<int>(slot.devices.size());
  if (n == 0) {
    base.bytes = role_bytes(slot.role, mem) * slot.instances;
    rows.push_back(base);
    return;
  }
  for (int d = 0; d < n; ++d) {
    plan_row row = base;
    row.device = "gpu:" + std::to_string(slot.devices[d]);
    row.instances = slot.instances / n + (d < slot.instances % n ? 1 : 0); // round-robin
    row.bytes = role_bytes(slot.role, mem) * row.instances;
    rows.push_back(row);
  }
}

void add_device_loads(const topo::Cluster& c, placement_plan& plan) {
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const auto& row : plan.rows) {
    if (row.device == "cpu")
      continue;
    auto key = std::make_pair(row.node, row.device);
    if (!index.count(key)) {
      index[key] = plan.devices.size();
      int64_t cap = 0;
      for (const auto& n : c.nodes())
        if (n.name() == row.node)
          cap = n.gpu_memory_mb() * mib;
      plan.devices.push_back(device_load{row.node, row.device, 0, cap});
    }
    plan.devices[index[key]].bytes += row.bytes;
  }
}

void add_warnings(const topo::Cluster& c, placement_plan& plan) {
  for (const auto& d : plan.devices)
    if (d.capacity > 0 && d.bytes > d.capacity)
      plan.warnings.push_back("node " + d.node + " " + d.device + ": estimated "
                              + format_bytes(d.bytes) + " exceeds gpu_memory_mb ("
                              + format_bytes(d.capacity) + ")");
  for (const auto& n : c.nodes()) {
    int64_t threads = 0;
    for (const auto& row : plan.rows)
      if (row.node == n.name())
        threads += int64_t(row.instances) * row.threads;
    if (n.cpu_threads() > 0 && threads > n.cpu_threads())
      plan.warnings.push_back("node " + n.name() + ": placements ask for "
                              + std::to_string(threads) + " threads, cpu_threads is "
                              + std::to_string(n.cpu_threads()));
  }
}

std::string pad(const std::string& s, size_t width) {
  return s + std::string(width > s.size() ? width - s.size() : 0, ' ');
}

} // namespace

int64_t parameter_count(const model_config& m) {
  const int64_t h = m.hidden_size, v = vocab(m);
  const int64_t kv_width = int64_t(m.num_kv_heads) * head_dim(m);
  const int64_t q_width = int64_t(m.num_heads) * head_dim(m); // h unless head_dim is set
  const int64_t biases = m.attention_bias ? q_width + 2 * kv_width : 0; // q, k, v (Qwen2)
  const int64_t qk_norms = m.qk_norm ? 2 * head_dim(m) : 0;             // Qwen3
  const int64_t per_layer = 2 * h * q_width + 2 * h * kv_width
                            + 3 * h * int64_t(m.intermediate_size) + 2 * h + biases + qk_norms;
  return v * h + m.num_layers * per_layer + h + (m.tie_embeddings ? 0 : v * h);
}

memory_estimate estimate_memory(const run_config& cfg) {
  const auto& m = cfg.model;
  memory_estimate e;
  e.params = parameter_count(m);
  e.weights = e.params * fp32;
  e.grads = e.params * fp32;
  e.optimizer = 2 * e.params * fp32;
  e.reference = cfg.learner.grpo.kl_beta > 0 ? e.params * fp32 : 0;
  const int64_t mini = std::max(cfg.learner.mini_batches, 1);
  const int64_t groups = (cfg.run.groups_per_step + mini - 1) / mini;
  const int64_t tokens = groups * cfg.run.group_size * m.max_seq_len;
  e.activations = tokens * m.hidden_size * m.num_layers * 16 * activation_factor
                  + tokens * vocab(m) * 2 * fp32;
  const int64_t batch = int64_t(cfg.sampler.groups_per_request) * cfg.run.group_size;
  e.kv_cache = 2 * int64_t(m.num_layers) * m.num_kv_heads * head_dim(m) * m.max_seq_len
               * batch * fp32;
  return e;
}

placement_plan make_plan(const topo::Cluster& c, const run_config& cfg) {
  placement_plan plan;
  plan.cluster = c.name();
  plan.memory = estimate_memory(cfg);
  // The rows come from the same resolution `tandem run` starts processes
  // from, so the table and the run cannot disagree.
  for (const auto& proc : resolve_processes(cfg, c).processes)
    for (const auto& slot : proc.actors)
      add_rows(proc, slot, plan.memory, plan.rows);
  add_device_loads(c, plan);
  add_warnings(c, plan);
  return plan;
}

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double x = double(bytes);
  int u = 0;
  while (x >= 1024 && u < 4)
    x /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", x, units[u]);
  return buf;
}

std::string format_plan(const placement_plan& plan) {
  std::vector<std::vector<std::string>> cells{
    {"node", "host", "process", "device", "role", "group", "instances", "threads",
     "memory"}};
  for (const auto& r : plan.rows)
    cells.push_back({r.node, r.host, r.process, r.device, r.role, r.group,
                     std::to_string(r.instances), std::to_string(r.threads),
                     r.bytes > 0 ? format_bytes(r.bytes) : "-"});
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells)
    for (size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string out = "cluster " + plan.cluster + "\n";
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += (i ? "  " : "") + (i + 1 < row.size() ? pad(row[i], width[i]) : row[i]);
    out += line + "\n";
  }
  const auto& m = plan.memory;
  out += "model: " + std::to_string(m.params) + " parameters; learner "
         + format_bytes(m.learner()) + " per instance (weights " + format_bytes(m.weights)
         + ", grads " + format_bytes(m.grads) + ", AdamW " + format_bytes(m.optimizer)
         + ", reference " + format_bytes(m.reference) + ", activations "
         + format_bytes(m.activations) + "); sampler " + format_bytes(m.sampler())
         + " per instance (weights " + format_bytes(m.weights) + ", KV cache "
         + format_bytes(m.kv_cache) + ")\n";
  for (const auto& d : plan.devices)
    out += "device " + d.node + " " + d.device + ": " + format_bytes(d.bytes)
           + (d.capacity > 0 ? " of " + format_bytes(d.capacity) : "") + "\n";
  for (const auto& w : plan.warnings)
    out += "warning: " + w + "\n";
  return out;
}

} // namespace tandem
