// plan.hpp: the placement plan of a validated cluster: which actors run where
// (one row per placement and device) and how much memory each device needs.
//
// Memory model: estimates of the peak, documented so that they can be
// checked by hand (docs/memory.md works three examples). Not counted: the
// CUDA context (~0.5 GiB), allocator fragmentation, NCCL's own buffers.
//   head_dim = head_dim_of(model), q = num_heads * head_dim,
//   kv = num_kv_heads * head_dim, h = hidden, ffn = intermediate, L = layers,
//   V = model.vocab_size, or char_tokenizer{}.vocab_size() when it is 0.
//   params P = V*h                                    embeddings
//            + L * (2*h*q + 2*h*kv                    q,o and k,v (GQA)
//                   + 3*h*ffn + 2*h                   SwiGLU MLP, 2 RMSNorms
//                   + (attention_bias ? q + 2*kv : 0) q/k/v biases (Qwen2)
//                   + (qk_norm ? 2*head_dim : 0))     q/k RMSNorms (Qwen3)
//            + h                                      final norm
//            + (tie_embeddings ? 0 : V*h)             lm_head
//   learner, per rank, with N = learner.ranks and Z = learner.zero_stage:
//     weights      4P    fp32 master weights, on every rank
//     bf16 casts   2P    bf16_autocast only: autocast caches the bf16 copy of
//                        every weight until the forward's guard exits, and
//                        autograd keeps them for backward (the master
//                        weights stay fp32)
//     grads        4P: .grad (with N > 1, views into the rank's flat
//                  gradient buffer, which the reduction and ZeRO's weight
//                  gather use; stage 2 keeps it full size too)
//     AdamW        8P (Z = 0), or 8P/N (Z >= 1): exp_avg and exp_avg_sq
//     weight shard 4P/N (Z >= 1): the rank's weights that AdamW updates
//                  (docs/data-parallel.md, "Memory per rank")
//     reference    4P    learner.kl_beta > 0 (the initial policy, fp32)
//     NCCL copy    4P    transports.weights: nccl (the flat fp32 buffer the
//                        broadcast reads; counted on every rank)
//     activations  of ONE micro-batch of T tokens, b = 2 B per element under
//                  bf16_autocast, else 4:
//         T = micro_batch_tokens when set (and smaller), else the padded
//             tokens of one rank's share of a mini-batch:
//             ceil(ceil(groups_per_step * group_size / mini_batches) / N)
//             * max_seq_len
//         per layer and token, autograd keeps a = 4h + 2q + 2kv + 4ffn
//             elements: the two norms' inputs and outputs, q, k, v, the
//             attention output, and the SwiGLU's gate, up, silu(gate) and
//             product (fused causal attention keeps no score matrix)
//         layers       T * L * a * b, or with activation_checkpointing
//                      T * L * h * 4 (each layer's input, the fp32 residual
//                      stream) + T * a * b (one layer recomputed in backward)
//         logits       T * V * (b + 4)   logits, and their fp32 log-softmax
//   sampler  = P * s weights in sampler.dtype (s = 4 float32, 2 bf16/fp16)
//            + KV cache 2 * L * kv * max_seq_len
//                       * (groups_per_request * group_size) * s.
//   broadcaster = 4P (host memory, the version in transit);
//   controller, reward: not estimated (small).
// Instances of a placement are assigned round-robin to its devices
// (instance i -> devices[i % n]); a device's load is the sum over its
// instances (a learner device holds one rank; ranks are numbered in plan
// order). A device whose load exceeds its node's gpu_memory_mb is refused:
// load_run() (run_loader.hpp) turns every such device into an issue, so
// `tandem plan`, `validate`, `run` and the workers refuse it alike. A node
// whose placements ask for more threads (instances x threads) than its
// cpu_threads gets a warning.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topology/run_config.hpp"
#include "topology/topology.pb.h"

namespace tandem {

/// Estimated bytes of one learner rank, sampler and broadcaster, by part.
struct memory_estimate {
  int64_t params = 0;
  int32_t ranks = 1;         // learner.ranks (N)
  int32_t zero_stage = 0;    // learner.zero_stage (Z)
  int64_t tokens = 0;        // T: tokens of one micro-batch of one rank
  // learner, per rank
  int64_t weights = 0;       // 4P fp32 master weights
  int64_t weight_casts = 0;  // 2P bf16 copies under bf16_autocast
  int64_t grads = 0;
  int64_t optimizer = 0;     // AdamW exp_avg and exp_avg_sq (or the rank's shard)
  int64_t weight_shard = 0;  // ZeRO (Z >= 1): 4P/N, the weights AdamW updates
  int64_t reference = 0;     // when kl_beta > 0
  int64_t nccl_copy = 0;     // flat fp32 weights, with transports.weights: nccl
  int64_t activations = 0;   // layers + logits of one micro-batch
  // sampler, per instance
  int64_t sampler_weights = 0;
  int64_t kv_cache = 0;
  int64_t learner() const {
    return weights + weight_casts + grads + optimizer + weight_shard + reference + nccl_copy
           + activations;
  }
  int64_t sampler() const { return sampler_weights + kv_cache; }
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
  int64_t capacity_mb = 0;  // gpu_memory_mb as written
  std::string holder;       // "learner rank 1", "sampler group 'fast' (2 instances)"
  std::string breakdown;    // "weights 26.0 GiB, grads 26.0 GiB, ..."
  bool over() const { return capacity > 0 && bytes > capacity; }
};

struct placement_plan {
  std::string cluster;
  memory_estimate memory;
  std::vector<plan_row> rows;         // in process, placement, device order
  std::vector<device_load> devices;   // every GPU that holds a placement
  std::vector<std::string> warnings;  // threads past a node's cpu_threads
  /// One line per device that cannot fit (device_load::over()).
  std::vector<std::string> refusals() const;
};

/// Parameter count of the policy (see file comment).
int64_t parameter_count(const model_config& model);

/// Memory of one learner rank and one sampler for `cfg`; `nccl_weights`:
/// the weights travel over NCCL (the learner keeps a flat copy).
memory_estimate estimate_memory(const run_config& cfg, bool nccl_weights = false);

/// "learner rank 1 on node a gpu:1 needs 93.2 GiB (weights 26.0 GiB, ...)
/// > gpu_memory_mb 81920 (80.0 GiB)".
std::string refusal_message(const device_load& d);

/// The plan of a cluster that passed check_cluster() (or the short form's
/// cluster), one row per process slot and device, from resolve_processes().
placement_plan make_plan(const topology::Cluster& cluster, const run_config& cfg);

/// Aligned table, memory summary, per-GPU loads with their breakdown,
/// warnings ("warning: ...") and refusals ("error: ..."), one per line.
std::string format_plan(const placement_plan& plan);

/// "512 B", "3.0 KiB", "1.2 GiB".
std::string format_bytes(int64_t bytes);

} // namespace tandem
