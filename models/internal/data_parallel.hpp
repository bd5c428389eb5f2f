// data_parallel.hpp: one learner rank's part of a data-parallel step, under
// learner_core (docs/data-parallel.md): the flat gradient and weight buffers,
// their buckets and shards, the gradient reduction, the exact sum of the
// step's statistics over the ranks, and the sharded AdamW of ZeRO stages 1
// and 2.
//
// Layout: the parameters in export order, flattened into one float32 buffer
// cut into buckets of whole parameters of about grad_bucket_bytes; each
// bucket is padded with zeros to a multiple of the rank count and split into
// `ranks` equal chunks. Rank r owns chunk r of every bucket: its ZeRO shard
// is those chunks, one after another. With one bucket this is one contiguous
// 1/N shard of the flat parameters; with several, ownership follows the
// buckets so that stage 2 can reduce-scatter bucket by bucket. Buckets are
// posted last first (backward produces the last parameters' gradients
// first).
//
// Overlap: the reduction of the last micro-batch's gradient runs while its
// backward goes on. Every parameter carries a tensor hook (LibTorch 1.13
// and 2.x both have Tensor::register_hook; the post-accumulate hook of 2.x
// is not needed): armed by arm() just before the last backward, it writes
// the parameter's final gradient (the .grad accumulated so far plus the
// incoming one) into the flat buffer, and once a bucket is complete it is
// posted -- strictly in bucket order, last bucket first, so that every rank
// posts the same sequence whatever order its autograd engine runs in. A
// rank with no rows, or whose loss was not finite, posts the same buckets
// after its backward (reduce_gradients). A gradient arriving twice in one
// backward (a parameter used by two graph executions) fails the step.
// Before each post the device is synchronised (the collective reads what
// LibTorch wrote) unless the collective is device_ordered().
//
// Thread safety: one thread at a time (the learner's). Private to models/.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <torch/torch.h>

#include "models/internal/adamw_state.hpp"
#include "models/internal/transformer.hpp"
#include "models/learner_core.hpp"
#include "runtime/nccl/reduce_collective.hpp"

namespace tandem::internal {

struct flat_layout {
  struct bucket {
    int64_t start = 0; // first element in the padded flat buffer
    int64_t size = 0;  // elements, padded to a multiple of the rank count
    int64_t local = 0; // where this rank's chunk sits in its shard
    size_t first = 0;  // parameters [first, end)
    size_t end = 0;
  };
  int ranks = 1;
  int rank = 0;
  std::vector<int64_t> offset; // by parameter, in the padded flat buffer
  std::vector<int64_t> numel;
  std::vector<bucket> buckets;
  int64_t total = 0; // padded flat length
  int64_t shard = 0; // this rank's elements: the sum of its chunks

  int64_t chunk(const bucket& b) const { return b.size / ranks; }
  int64_t own_start(const bucket& b) const { return b.start + rank * chunk(b); }
};

/// `numel` parameters (export order) into buckets of at most
/// max(bucket_bytes / 4, the largest parameter) unpadded elements.
flat_layout plan_flat_layout(const std::vector<int64_t>& numel, int ranks, int rank,
                             int64_t bucket_bytes);

struct adamw_hyper {
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8; // torch::optim::AdamWOptions' default, which learner_core keeps
  double weight_decay = 0;
};

/// AdamW on flat float32 chunks with one state of `numel` elements: the
/// update of torch::optim::AdamW (LibTorch's C++ optimizer), element for
/// element: p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
class flat_adamw {
public:
  flat_adamw(int64_t numel, adamw_hyper h, torch::Device device);

  /// One step: params[i] and grads[i] (same length) use the state at
  /// at[i]. Every chunk of the shard must be given (one step count).
  void step(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
            const std::vector<int64_t>& at, double lr);

  int64_t steps() const { return steps_; }
  const torch::Tensor& exp_avg() const { return exp_avg_; }
  const torch::Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  void restore(int64_t steps, const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq);

private:
  adamw_hyper h_;
  int64_t steps_ = 0;
  torch::Tensor exp_avg_;
  torch::Tensor exp_avg_sq_;
};

class dp_rank {
public:
  dp_rank(const learner_settings& s, const transformer& model, torch::Device device);

  const flat_layout& layout() const { return layout_; }

  /// Bytes of this rank's lasting buffers: the flat gradient (also the
  /// weights' gather buffer) and the AdamW moments (stages 1, 2); the model's
  /// weights and .grad, stage 0's torch::optim::AdamW state and the update's
  /// transient shard of weights are not counted.
  int64_t buffer_bytes() const;
  int zero_stage() const { return stage_; }

  /// Starts a step: clears the flat gradient and the hooks' bookkeeping.
  void begin_step();

  /// Arms the hooks: the next backward is the step's last (see Overlap).
  /// The reduction's deadline starts here (not at begin_step: the earlier
  /// micro-batches' compute is not a wait on the peers).
  void arm() {
    armed_ = true;
    until_ = deadline();
  }

  /// After the step's backward: the gradient of every parameter the hooks
  /// did not see (zeros where .grad is undefined) goes into the flat buffer,
  /// the buckets not posted yet are posted, and all are waited for:
  /// all_reduce (stages 0, 1) or reduce_scatter (stage 2: only this rank's
  /// chunks hold the sum afterwards).
  caf::error reduce_gradients(const transformer& model);

  /// Every rank's `local` (same length on every rank), by rank, bit for bit
  /// (the doubles travel through a float all_gather that only copies), so
  /// every rank combines the same values in the same order.
  caf::expected<std::vector<std::vector<double>>> gather_over_ranks(
    const std::vector<double>& local);

  /// Sum of squares of the reduced gradient: every parameter (stages 0, 1;
  /// in the single-rank order: per parameter in float, then in double) or
  /// this rank's chunks (stage 2; add over the ranks).
  double grad_square_sum() const;

  /// Stage 0: the reduced gradient back into every parameter's .grad.
  void install_gradients(transformer& model);

  /// Stages 1, 2: this rank's chunks of the gradient times `grad_scale`,
  /// the AdamW step on its chunks of the weights (a transient shard), the
  /// all_gather of the weights through the flat gradient buffer, then the
  /// model's weights from it. On a collective error the model's weights are
  /// unchanged (the moments have taken the step).
  caf::error sharded_update(transformer& model, double lr, double grad_scale);

  /// Stages 1, 2: every parameter's moments, gathered from all the ranks (a
  /// collective call), on the host.
  caf::expected<std::vector<param_moments>> gather_moments();

  /// Stages 1, 2: this rank's chunks of `moments` (one per parameter, any
  /// device) become its state. errc::invalid_argument when the parameters'
  /// step counts differ.
  caf::error restore_moments(const std::vector<param_moments>& moments);

private:
  void on_grad(size_t i, const torch::Tensor& g);
  void post_ready_buckets();
  caf::error run_buckets(nccl::reduce_op op, torch::Tensor& flat, const char* what);
  caf::error run_one(nccl::reduce_op op, torch::Tensor& flat, const char* what);
  void copy_weights(const flat_layout::bucket& b, int64_t at, int64_t n, torch::Tensor shard,
                    bool into_model);
  nccl::time_point deadline() const;

  std::shared_ptr<nccl::reduce_collective> comm_;
  int stage_;
  int64_t timeout_ms_;
  flat_layout layout_;
  torch::Tensor grads_;  // [total] the flat gradient
  std::unique_ptr<flat_adamw> adamw_;
  std::vector<std::vector<int64_t>> shapes_;
  // The hooks' bookkeeping, reset by begin_step().
  std::vector<torch::Tensor> params_list_; // the model's parameters, export order
  std::vector<size_t> bucket_of_;          // by parameter
  std::vector<int> seen_;                  // by parameter: gradients this backward
  std::vector<size_t> missing_;            // by bucket: parameters not seen yet
  bool armed_ = false;
  int next_post_ = -1;                     // bucket to post next (last first); -1: all
  nccl::time_point until_{};
  std::vector<nccl::ticket> tickets_;
  caf::error post_error_;                  // the first failed post
  bool twice_ = false;
};

} // namespace tandem::internal
