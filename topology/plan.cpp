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
constexpr int64_t mib = 1024 * 1024;

int64_t vocab(const model_config& m) {
  return m.vocab_size > 0 ? m.vocab_size : char_tokenizer{}.vocab_size();
}

int64_t ceil_div(int64_t a, int64_t b) { return b > 0 ? (a + b - 1) / b : a; }

/// T of plan.hpp: tokens of one micro-batch of one rank.
int64_t micro_batch_tokens(const run_config& cfg) {
  const int64_t rows = int64_t{cfg.run.groups_per_step} * cfg.run.group_size;
  const int64_t per_mini = ceil_div(rows, std::max(cfg.learner.mini_batches, 1));
  const int64_t per_rank = ceil_div(per_mini, std::max(cfg.learner.ranks, 1));
  const int64_t tokens = per_rank * cfg.model.max_seq_len;
  const int64_t budget = cfg.learner.micro_batch_tokens;
  return budget > 0 ? std::min(budget, tokens) : tokens;
}

/// Layers and logits of one micro-batch of `t` tokens (plan.hpp).
int64_t activation_bytes(const run_config& cfg, int64_t t) {
  const auto& m = cfg.model;
  const int64_t b = cfg.learner.precision == "bf16_autocast" ? 2 : fp32;
  const int64_t h = m.hidden_size, hd = head_dim_of(m);
  const int64_t q = int64_t{m.num_heads} * hd, kv = int64_t{m.num_kv_heads} * hd;
  const int64_t a = 4 * h + 2 * q + 2 * kv + 4 * int64_t{m.intermediate_size};
  const int64_t layers = cfg.learner.activation_checkpointing
                           ? t * m.num_layers * h * fp32 + t * a * b
                           : t * m.num_layers * a * b;
  return layers + t * vocab(m) * (b + fp32);
}

/// Grads, AdamW and ZeRO's weight shard of one rank (plan.hpp; the table of
/// docs/data-parallel.md).
void add_optimizer_state(memory_estimate& e) {
  const int64_t p = e.params, n = std::max(e.ranks, 1);
  e.grads = fp32 * p; // with N > 1 the .grad tensors are views into the flat gradient
  e.optimizer = e.zero_stage >= 1 ? ceil_div(2 * fp32 * p, n) : 2 * fp32 * p;
  e.weight_shard = e.zero_stage >= 1 ? ceil_div(fp32 * p, n) : 0;
}

topo::Role role_of(const std::string& name) {
  for (auto r : {topo::LEARNER, topo::SAMPLER, topo::BROADCASTER})
    if (role_name(r) == name)
      return r;
  return topo::ROLE_UNSPECIFIED;
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

std::string role_breakdown(topo::Role role, const memory_estimate& m) {
  auto part = [](const char* name, int64_t bytes) {
    return bytes > 0 ? std::string(", ") + name + " " + format_bytes(bytes) : std::string();
  };
  std::string out;
  if (role == topo::LEARNER)
    out = part("weights", m.weights) + part("bf16 casts", m.weight_casts)
          + part("grads", m.grads) + part("AdamW", m.optimizer)
          + part("weight shard", m.weight_shard)
          + part("reference", m.reference) + part("NCCL copy", m.nccl_copy)
          + part("activations", m.activations);
  else if (role == topo::SAMPLER)
    out = part("weights", m.sampler_weights) + part("KV cache", m.kv_cache);
  return out.empty() ? out : out.substr(2);
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

/// Who holds a device: a learner device holds one rank (numbered in plan
/// order), a sampler device some instances of one group.
std::string holder_of(const plan_row& row, int32_t& next_rank) {
  if (row.role == "learner") {
    const int32_t first = next_rank;
    next_rank += row.instances;
    return row.instances == 1 ? "learner rank " + std::to_string(first)
                              : "learner ranks " + std::to_string(first) + ".."
                                  + std::to_string(next_rank - 1);
  }
  return row.role + " group '" + row.group + "' (" + std::to_string(row.instances)
         + " instance" + (row.instances == 1 ? ")" : "s)");
}

void add_device_loads(const topo::Cluster& c, placement_plan& plan) {
  std::map<std::pair<std::string, std::string>, size_t> index;
  int32_t next_rank = 0;
  for (const auto& row : plan.rows) {
    if (row.device == "cpu") {
      if (row.role == "learner")
        next_rank += row.instances;
      continue;
    }
    auto key = std::make_pair(row.node, row.device);
    if (!index.count(key)) {
      index[key] = plan.devices.size();
      device_load load{row.node, row.device, 0, 0, 0, {}, {}};
      for (const auto& n : c.nodes())
        if (n.name() == row.node)
          load.capacity_mb = n.gpu_memory_mb();
      load.capacity = load.capacity_mb * mib;
      load.breakdown = (row.role == "sampler" && row.instances > 1 ? "each: " : "")
                       + role_breakdown(role_of(row.role), plan.memory);
      plan.devices.push_back(load);
    }
    auto& load = plan.devices[index[key]];
    load.bytes += row.bytes;
    // Devices are exclusive to one placement (cluster_checks.hpp): one holder.
    load.holder += (load.holder.empty() ? "" : ", ") + holder_of(row, next_rank);
  }
}

void add_warnings(const topo::Cluster& c, placement_plan& plan) {
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
  const int64_t h = m.hidden_size, v = vocab(m), hd = head_dim_of(m);
  const int64_t q = int64_t{m.num_heads} * hd, kv = int64_t{m.num_kv_heads} * hd;
  const int64_t biases = m.attention_bias ? q + 2 * kv : 0; // q, k, v (Qwen2 checkpoints)
  const int64_t qk_norms = m.qk_norm ? 2 * hd : 0;          // Qwen3
  const int64_t per_layer = 2 * h * q + 2 * h * kv + 3 * h * int64_t{m.intermediate_size}
                            + 2 * h + biases + qk_norms;
  return v * h + m.num_layers * per_layer + h + (m.tie_embeddings ? 0 : v * h);
}

memory_estimate estimate_memory(const run_config& cfg, bool nccl_weights) {
  const auto& m = cfg.model;
  memory_estimate e;
  e.params = parameter_count(m);
  e.ranks = std::max(cfg.learner.ranks, 1);
  e.zero_stage = cfg.learner.zero_stage;
  e.tokens = micro_batch_tokens(cfg);
  e.weights = e.params * fp32;
  e.weight_casts = cfg.learner.precision == "bf16_autocast" ? e.params * 2 : 0;
  add_optimizer_state(e);
  e.reference = cfg.learner.grpo.kl_beta > 0 ? e.params * fp32 : 0;
  e.nccl_copy = nccl_weights ? e.params * fp32 : 0;
  e.activations = activation_bytes(cfg, e.tokens);
  const int64_t s = cfg.sampler.dtype == "float32" ? fp32 : 2;
  e.sampler_weights = e.params * s;
  const int64_t rows = int64_t{cfg.sampler.groups_per_request} * cfg.run.group_size;
  e.kv_cache = 2 * int64_t{m.num_layers} * m.num_kv_heads * head_dim_of(m) * m.max_seq_len
               * rows * s;
  return e;
}

placement_plan make_plan(const topo::Cluster& c, const run_config& cfg) {
  placement_plan plan;
  plan.cluster = c.name();
  plan.memory = estimate_memory(cfg, c.transports().weights() == "nccl");
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

std::string refusal_message(const device_load& d) {
  return d.holder + " on node " + d.node + " " + d.device + " needs " + format_bytes(d.bytes)
         + " (" + d.breakdown + ") > gpu_memory_mb " + std::to_string(d.capacity_mb) + " ("
         + format_bytes(d.capacity) + ")";
}

std::vector<std::string> placement_plan::refusals() const {
  std::vector<std::string> out;
  for (const auto& d : devices)
    if (d.over())
      out.push_back(refusal_message(d));
  return out;
}

namespace {

std::string table(const placement_plan& plan) {
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
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += (i ? "  " : "") + (i + 1 < row.size() ? pad(row[i], width[i]) : row[i]);
    out += line + "\n";
  }
  return out;
}

std::string memory_summary(const memory_estimate& m) {
  return "model: " + std::to_string(m.params) + " parameters; learner "
         + format_bytes(m.learner()) + " per rank (" + std::to_string(m.ranks)
         + " rank(s), zero_stage " + std::to_string(m.zero_stage) + ", "
         + std::to_string(m.tokens) + " tokens per micro-batch: "
         + role_breakdown(topo::LEARNER, m) + "); sampler " + format_bytes(m.sampler())
         + " per instance (" + role_breakdown(topo::SAMPLER, m) + ")\n";
}

} // namespace

std::string format_plan(const placement_plan& plan) {
  std::string out = "cluster " + plan.cluster + "\n" + table(plan) + memory_summary(plan.memory);
  for (const auto& d : plan.devices)
    out += "device " + d.node + " " + d.device + ": " + d.holder + ", "
           + format_bytes(d.bytes)
           + (d.capacity > 0 ? " of " + format_bytes(d.capacity) : "")
           + (d.breakdown.empty() ? "" : " (" + d.breakdown + ")") + "\n";
  for (const auto& w : plan.warnings)
    out += "warning: " + w + "\n";
  for (const auto& r : plan.refusals())
    out += "error: " + r + "\n";
  return out;
}

} // namespace tandem
