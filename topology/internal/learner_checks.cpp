// learner_checks.cpp: learner.ranks / zero_stage / grad_bucket_mb (see
// learner_checks.hpp).
#include "topology/internal/learner_checks.hpp"

#include <initializer_list>
#include <string>

namespace tandem::internal {

namespace {

/// Reports at `field` unless `ok`, or a field it reads failed to bind.
void require(binder_context& ctx, bool ok, const std::string& field, const std::string& message,
             std::initializer_list<const char*> reads = {}) {
  if (ok || ctx.invalid(field))
    return;
  for (const char* r : reads)
    if (ctx.invalid(r))
      return;
  ctx.add(ctx.where(field), field, message);
}

/// A field written in the file that a single-rank learner ignores.
void single_rank_no_effect(binder_context& ctx, const std::string& field, bool ignored,
                           const std::string& why) {
  if (ignored && ctx.present(field) && !ctx.invalid("learner.ranks"))
    ctx.add(ctx.where(field), field,
            "has no effect with learner.ranks: 1 (" + why + "); remove it");
}

void check_ranks(const run_config& c, binder_context& ctx) {
  const auto& l = c.learner;
  const std::string got = " (got " + std::to_string(l.ranks) + ")";
  require(ctx, l.ranks >= 1, "learner.ranks", "must be >= 1" + got);
  // Every rank trains on a slice of each mini-batch; a rank without a row
  // would join every all-reduce with nothing to add.
  const int64_t rows = int64_t{c.run.groups_per_step} * c.run.group_size;
  const int64_t per_mini = l.mini_batches >= 1 ? rows / l.mini_batches : rows;
  require(ctx, l.ranks < 1 || per_mini < 1 || l.ranks <= per_mini, "learner.ranks",
          "must be <= the sequences of one mini-batch, run.groups_per_step * "
          "run.group_size / learner.mini_batches = " + std::to_string(per_mini) + got,
          {"run.groups_per_step", "run.group_size", "learner.mini_batches"});
  // The short form has no device list: ranks on GPUs need a cluster: section.
  require(ctx, ctx.present("cluster") || l.ranks <= 1 || l.device == "cpu", "learner.ranks",
          std::to_string(l.ranks) + " ranks on learner.device " + l.device
            + ": each rank needs its own GPU, which only a cluster: section names "
              "(the learner group's placement with devices: [0, 1, ...], one per rank); "
              "without one, ranks > 1 run on learner.device: cpu",
          {"learner.device"});
}

} // namespace

void check_learner_parallel(const run_config& c, binder_context& ctx) {
  const auto& l = c.learner;
  check_ranks(c, ctx);
  require(ctx, l.zero_stage >= 0 && l.zero_stage <= 2, "learner.zero_stage",
          "must be 0, 1 (AdamW state sharded over the ranks) or 2 (and the gradients) (got "
            + std::to_string(l.zero_stage) + ")");
  // 1 MiB .. 4 GiB, as learner.nccl_bucket_mb: below, NCCL's per-operation
  // cost dominates; above, a bucket no longer overlaps the backward pass.
  require(ctx, l.grad_bucket_mb >= 1 && l.grad_bucket_mb <= 4096, "learner.grad_bucket_mb",
          "must be in 1..4096 (got " + std::to_string(l.grad_bucket_mb) + ")");
  single_rank_no_effect(ctx, "learner.zero_stage", l.ranks == 1 && l.zero_stage > 0,
                        "one rank holds the whole optimizer state");
  single_rank_no_effect(ctx, "learner.grad_bucket_mb", l.ranks == 1,
                        "there are no gradients to all-reduce");
}

} // namespace tandem::internal
