// data_parallel_test.cpp: the pieces of a data-parallel learner rank
// (models/internal/data_parallel.hpp): the flat layout's buckets and shards,
// and the sharded AdamW against LibTorch's torch::optim::AdamW.

#include "models/internal/data_parallel.hpp"

#include <cstdio>
#include <numeric>

#include <gtest/gtest.h>

#include "runtime/nccl/thread_group_collective.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;
using namespace tandem::internal;

TEST(FlatLayout, BucketsHoldWholeParametersPaddedToTheRanks) {
  // 4-byte floats: a 40-byte cap is 10 elements.
  auto l = plan_flat_layout({3, 4, 12, 2, 5}, 4, 1, 40);
  ASSERT_EQ(l.buckets.size(), 3u);          // {3,4} {12} {2,5}
  EXPECT_EQ(l.buckets[0].size, 8);          // 7 padded to 8
  EXPECT_EQ(l.buckets[1].size, 12);         // a parameter above the cap: its own bucket
  EXPECT_EQ(l.buckets[2].start, 20);
  EXPECT_EQ(l.buckets[2].size, 8);
  EXPECT_EQ(l.total, 28);
  EXPECT_EQ(l.offset, (std::vector<int64_t>{0, 3, 8, 20, 22}));
  EXPECT_EQ(l.shard, 2 + 3 + 2);            // one chunk of each bucket
  EXPECT_EQ(l.buckets[2].local, 5);
  EXPECT_EQ(l.own_start(l.buckets[1]), 8 + 3);
}

TEST(FlatLayout, OneBucketIsOneContiguousShardPerRank) {
  auto l = plan_flat_layout({10, 7}, 3, 2, int64_t{1} << 30);
  ASSERT_EQ(l.buckets.size(), 1u);
  EXPECT_EQ(l.total, 18);
  EXPECT_EQ(l.shard, 6);
  EXPECT_EQ(l.own_start(l.buckets[0]), 12);
}

// Chunks of odd lengths at odd offsets, weight decay, a changing learning
// rate: the flat update equals torch::optim::AdamW's on separate tensors.
TEST(FlatAdamw, StepsEqualTorchAdamW) {
  torch::manual_seed(7);
  torch::set_num_threads(1);
  const std::vector<int64_t> sizes = {37, 5, 129, 1};
  const double wd = 0.05, b1 = 0.9, b2 = 0.99;
  std::vector<torch::Tensor> ref, flat_parts;
  for (auto n : sizes) {
    auto p = torch::randn({n});
    ref.push_back(p.clone().set_requires_grad(true));
    flat_parts.push_back(p.clone());
  }
  torch::optim::AdamW torch_opt(ref, torch::optim::AdamWOptions(1e-2)
                                       .betas(std::make_tuple(b1, b2))
                                       .weight_decay(wd));
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  auto flat = torch::cat(flat_parts);
  flat_adamw mine(total + 3, adamw_hyper{b1, b2, 1e-8, wd}, torch::kCPU);
  double worst = 0;
  for (int step = 0; step < 6; ++step) {
    const double lr = 1e-2 * (1.0 + 0.3 * step);
    for (auto& group : torch_opt.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    std::vector<torch::Tensor> grads;
    for (auto n : sizes)
      grads.push_back(torch::randn({n}) * (step % 2 ? 1e-3 : 1.0));
    for (size_t i = 0; i < ref.size(); ++i)
      ref[i].mutable_grad() = grads[i].clone();
    torch_opt.step();
    // State at offset 3 (not 0), chunks in reverse order: placement is free.
    std::vector<torch::Tensor> p, g;
    std::vector<int64_t> at;
    int64_t off = 0;
    std::vector<int64_t> offsets;
    for (auto n : sizes) {
      offsets.push_back(off);
      off += n;
    }
    for (size_t k = sizes.size(); k-- > 0;) {
      p.push_back(flat.narrow(0, offsets[k], sizes[k]));
      g.push_back(grads[k]);
      at.push_back(3 + offsets[k]);
    }
    mine.step(p, g, at, lr);
    auto want = torch::cat(ref).detach();
    worst = std::max(worst, (flat - want).abs().max().item<double>());
  }
  std::printf("flat_adamw vs torch::optim::AdamW: max |diff| %.3g after 6 steps\n", worst);
  EXPECT_LE(worst, 1e-6);
  EXPECT_EQ(mine.steps(), 6);
}

namespace {

using test::tiny_model;

// One rank on a one-member thread group over a seeded tiny model, with
// `bucket_bytes` gradient buckets (0: the default); `loss(c)` is
// sum(c * p^2) over the parameters, whose gradient is 2cp.
struct one_rank {
  explicit one_rank(int64_t bucket_bytes = 0) : model(tiny_model()) {
    model->init_weights(1);
    settings.model = tiny_model();
    settings.collective = nccl::thread_group::share(group, 0);
    if (bucket_bytes > 0)
      settings.grad_bucket_bytes = bucket_bytes;
  }
  torch::Tensor loss(double c) {
    torch::Tensor sum = torch::zeros({});
    for (auto& p : model->parameters())
      sum = sum + (p * p * c).sum();
    return sum;
  }
  transformer model;
  std::shared_ptr<nccl::thread_group> group = std::make_shared<nccl::thread_group>(1);
  learner_settings settings;
};

} // namespace

// Two accumulated backwards; the post-accumulate hooks armed for the second
// post every bucket before backward() returns, and the reduced flat gradient
// is every .grad (one rank: the sum is the gradient itself). The thread group
// copies a bucket when it is posted and writes the result back at wait(): a
// bucket posted before its last parameter was accumulated (a hook before
// AccumulateGrad, the race that gradient views invite) would come back as
// 2p for that parameter, not 3p.
TEST(DpRank, HooksPostEveryBucketDuringTheLastBackward) {
  torch::set_num_threads(1);
  one_rank r(8 << 10);
  auto& model = r.model;
  auto& group = r.group;
  dp_rank dp(r.settings, model, torch::kCPU);
  ASSERT_GE(dp.layout().buckets.size(), 3u);
  auto loss = [&](double c) { return r.loss(c); };
  dp.begin_step();
  loss(1.0).backward();
  EXPECT_EQ(group->completed_posts(), 0u); // not armed
  dp.arm();
  loss(0.5).backward();
  EXPECT_EQ(group->completed_posts(), dp.layout().buckets.size());
  ASSERT_FALSE(dp.reduce_gradients(model));
  EXPECT_EQ(group->completed_posts(), dp.layout().buckets.size()); // none posted twice
  auto params = ordered_parameters(model);
  for (auto& p : params)
    EXPECT_TRUE(torch::allclose(p.grad(), 3.0 * p.detach(), 1e-6, 1e-7)); // 2p + p
}

// Every .grad lives in the flat gradient's storage: the parameters' .grad
// add no byte to the rank's buffers, and writing the flat buffer is writing
// .grad.
TEST(DpRank, GradientsAreViewsIntoTheFlatBuffer) {
  one_rank r;
  auto& model = r.model;
  dp_rank dp(r.settings, model, torch::kCPU);
  auto kept = dp.lasting_tensors();
  const int64_t buffers = distinct_storage_bytes(kept);
  for (auto& p : model->parameters())
    kept.push_back(p.grad());
  EXPECT_EQ(distinct_storage_bytes(kept), buffers);
  EXPECT_EQ(buffers, dp.layout().total * 4);
  kept.front().fill_(2.0f);
  for (auto& p : model->parameters())
    EXPECT_TRUE(torch::all(p.grad() == 2.0f).item<bool>());
  dp.begin_step();
  for (auto& p : model->parameters())
    EXPECT_TRUE(torch::all(p.grad() == 0.0f).item<bool>());
}

// A .grad dropped between micro-batches (LibTorch 2.x's zero_grad sets it to
// none; AccumulateGrad then makes a fresh tensor) is copied back into the
// flat buffer before its bucket is posted, and is a view again afterwards.
TEST(DpRank, AReplacedGradGoesBackIntoTheFlatBuffer) {
  torch::set_num_threads(1);
  one_rank r(8 << 10);
  auto& model = r.model;
  dp_rank dp(r.settings, model, torch::kCPU);
  auto params = ordered_parameters(model);
  auto loss = [&](double c) { return r.loss(c); };
  dp.begin_step();
  loss(1.0).backward();
  params[0].mutable_grad() = torch::Tensor(); // dropped: its 2p is gone
  dp.arm();
  loss(0.5).backward();
  ASSERT_FALSE(dp.reduce_gradients(model));
  const auto flat = dp.lasting_tensors().front();
  EXPECT_EQ(params[0].grad().storage().unsafeGetStorageImpl(),
            flat.storage().unsafeGetStorageImpl());
  EXPECT_TRUE(torch::allclose(params[0].grad(), params[0].detach(), 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(params[1].grad(), 3.0 * params[1].detach(), 1e-6, 1e-7));
}

// docs/data-parallel.md's memory table: a ZeRO rank's lasting buffers are a
// flat gradient (4 bytes per parameter: every .grad and the weights' gather
// buffer), 8/N bytes of moments and 4/N of the update's weight shard, up to
// the padding of the buckets.
TEST(DpRank, ZeroBuffersMatchTheStatedFormula) {
  transformer model(tiny_model());
  const double params = static_cast<double>(count_parameters(model));
  for (int n : {2, 4, 8}) {
    auto group = std::make_shared<nccl::thread_group>(n);
    learner_settings s;
    s.model = tiny_model();
    s.ranks = n;
    s.rank = n - 1;
    s.zero_stage = 1;
    s.collective = nccl::thread_group::share(group, n - 1);
    dp_rank dp(s, model, torch::kCPU);
    const double formula = params * (4 + 12.0 / n);
    EXPECT_NEAR(static_cast<double>(dp.buffer_bytes()), formula, 0.01 * formula) << n << " ranks";
  }
}
