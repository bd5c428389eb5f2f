// plan.hpp: the placement plan of a validated cluster: which actors run where
// (one row per placement and device) and how much memory each device needs.
//
// Memory model (estimates for fp32 LibTorch, documented so that they can be
// checked by hand; head_dim = hidden / num_heads, kv = num_kv_heads):
//   params   = V*h                                     embeddings
//            + L * (2*h*h + 2*h*kv*head_dim            q,o and k,v (GQA)
//                   + 3*h*ffn + 2*h)                   SwiGLU MLP, 2 RMSNorms
//            + h                                       final norm
//            + (tie_embeddings ? 0 : V*h)              lm_head
//   V = model.vocab_size, or char_tokenizer{}.vocab_size() when it is 0.
//   learner  = 4 B/param weights + 4 grads + 8 AdamW moments
//            + 4 reference copy (only when learner.kl_beta > 0)
//            + activations: T * h * L * 16 B * activation_factor (4)
//                           + T * V * 8 B (logits and their log-softmax),
//              T = tokens of one mini-batch
//                = ceil(groups_per_step / mini_batches) * group_size * max_seq_len.
//              activation_factor 4: the SwiGLU intermediates (3 x ffn wide)
//              dominate what autograd keeps per layer; attention scores
//              (seq_len wide) are ignored at these lengths.
//   sampler  = 4 B/param weights
//            + KV cache 2 * L * kv * head_dim * max_seq_len
//                       * (groups_per_request * group_size) * 4 B.
//   broadcaster = 4 B/param (host memory, the version in transit);
//   controller, reward: not estimated (small).
// Instances of a placement are assigned round-robin to its devices
// (instance i -> devices[i % n]); a device's load is the sum over its
// instances. A warning is raised when it exceeds the node's gpu_memory_mb,
// and when a node's placements ask for more threads (instances x threads)
// than its cpu_threads.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topology/run_config.hpp"
#include "topology/topology.pb.h"

namespace tandem {

/// Estimated bytes of one instance, by component.
struct memory_estimate {
  int64_t params = 0;
  int64_t weights = 0;     // params * 4
  int64_t grads = 0;       // learner
  int64_t optimizer = 0;   // learner, AdamW m and v
  int64_t reference = 0;   // learner, when kl_beta > 0
  int64_t activations = 0; // learner
  int64_t kv_cache = 0;    // sampler
  int64_t learner() const { return weights + grads + optimizer + reference + activations; }
  int64_t sampler() const { return weights + kv_cache; }
};

struct plan_row {
  std::string node;
  std::string host;
  std::string process;
  std::string device;  // "cpu" or "gpu:N"
  std::string role;
  std::string group;
  int32_t instances = 0; // instances of the placement on this device
  int32_t threads = 0;   // per instance
  int64_t bytes = 0;     // estimate for these instances (0 = not estimated)
};

struct device_load {
  std::string node;
  std::string device;       // "gpu:N"
  int64_t bytes = 0;        // sum of the rows on it
  int64_t capacity = 0;     // gpu_memory_mb in bytes; 0 = unknown
};

struct placement_plan {
  std::string cluster;
  memory_estimate memory;
  std::vector<plan_row> rows;         // in process, placement, device order
  std::vector<device_load> devices;   // every GPU that holds a placement
  std::vector<std::string> warnings;
};

/// Parameter count of the policy (see file comment).
int64_t parameter_count(const model_config& model);

/// Per-instance memory of the learner and a sampler for `cfg`.
memory_estimate estimate_memory(const run_config& cfg);

/// The plan of a cluster that passed check_cluster() (or the short form's
/// cluster), one row per process slot and device, from resolve_processes().
placement_plan make_plan(const topology::Cluster& cluster, const run_config& cfg);

/// Aligned table, memory summary and warnings ("warning: ..."), one per line.
std::string format_plan(const placement_plan& plan);

/// "512 B", "3.0 KiB", "1.2 GiB".
std::string format_bytes(int64_t bytes);

} // namespace tandem
