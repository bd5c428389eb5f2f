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
// Gradients as views (as PyTorch DDP's gradient_as_bucket_view): every
// parameter's .grad is a tensor over the flat gradient buffer's storage at
// its offset (not an autograd view: Optimizer::zero_grad may detach_ it),
// installed by begin_step(). Autograd's AccumulateGrad adds each
// micro-batch's gradient into .grad in place (backward runs without grad
// mode), so the flat buffer is the accumulated gradient with no copy and no
// second full-size gradient. A .grad that someone replaced or dropped (2.x's
// zero_grad sets it to none) is copied back and re-installed before its
// bucket is read.
//
// Overlap: the reduction of the last micro-batch's gradient runs while its
// backward goes on. Every parameter's AccumulateGrad node carries a post
// hook (torch::autograd::impl::grad_accumulator + Node::add_post_hook, in
// LibTorch 1.13 and 2.x alike; dp_rank holds the nodes, which the
// parameters keep only weakly). A post hook runs after the node has
// accumulated into .grad, so when it reports a parameter done its slice of
// the flat buffer is final: a bucket is posted only once every parameter in
// it has been accumulated, and nothing writes to it afterwards in that
// backward (a second accumulation of the same parameter is detected and
// fails the step). The hooks do nothing until arm(), just before the last
// backward; then, once a bucket is complete, it is posted -- strictly in
// bucket order, last bucket first, so that every rank posts the same
// sequence whatever order its autograd engine runs in. A rank with no rows,
// or whose loss was not finite, posts the same buckets after its backward
// (reduce_gradients). Before each post the device is synchronised (the
// collective reads what LibTorch wrote) unless the collective is
// device_ordered().
//
// After a ZeRO update the flat buffer (and so .grad) holds the gathered
// weights, not a gradient; begin_step() zeroes it before the next step.
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

/// Bytes of the distinct storages behind `tensors` (undefined ones
/// skipped): a tensor sharing another's storage (a .grad over the flat
/// gradient) adds nothing.
int64_t distinct_storage_bytes(const std::vector<torch::Tensor>& tensors);

class dp_rank {
public:
  /// Installs the .grad views and the AccumulateGrad post hooks on the
  /// model's parameters; the model must outlive this object.
  dp_rank(const learner_settings& s, const transformer& model, torch::Device device);
  ~dp_rank(); // removes the hooks
  dp_rank(const dp_rank&) = delete; // the hooks point at this object
  dp_rank& operator=(const dp_rank&) = delete;

  const flat_layout& layout() const { return layout_; }

  /// Bytes of this rank's lasting buffers: the flat gradient (which every
  /// .grad views; also the weights' gather buffer) and, stages 1, 2, the
  /// AdamW moments and the update's shard of weights; the model's weights
  /// and stage 0's torch::optim::AdamW state are not counted.
  int64_t buffer_bytes() const;
  /// Those buffers, for counting storages (distinct_storage_bytes).
  std::vector<torch::Tensor> lasting_tensors() const;
  int zero_stage() const { return stage_; }

  /// Starts a step: zeroes the flat gradient, (re)installs every .grad as
  /// its view and clears the hooks' bookkeeping.
  void begin_step();

  /// Zeroes the flat gradient, i.e. every .grad (a failed step).
  void zero_gradients();

  /// Arms the hooks: the next backward is the step's last (see Overlap).
  /// The reduction's deadline starts here (not at begin_step: the earlier
  /// micro-batches' compute is not a wait on the peers).
  void arm() {
    armed_ = true;
    until_ = deadline();
  }

  /// After the step's backward: every parameter the hooks did not see is
  /// taken as it is in the flat buffer (a replaced .grad copied back), the
  /// buckets not posted yet are posted, and all are waited for:
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

  /// Stages 1, 2: this rank's chunks of the gradient times `grad_scale`,
  /// the AdamW step on its chunks of the weights (the shard buffer), the
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
  void on_accumulated(size_t i);
  void keep_view(size_t i);
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
  torch::Tensor grads_;  // [total] the flat gradient; every .grad views it
  torch::Tensor wshard_; // [shard] stages 1, 2: this rank's weights during the update
  std::vector<torch::Tensor> views_; // by parameter: its .grad over grads_
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_; // kept alive
  std::vector<uintptr_t> hook_keys_;  // by parameter, for del_post_hook
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
