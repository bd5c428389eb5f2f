// bucket_plan: greedy, aligned, order-keeping buckets with a size limit.
#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/nccl/bucket_plan.hpp"

namespace tandem::nccl {
namespace {

bucket_options small(size_t bucket_bytes = 1024, size_t alignment = 256) {
  return {bucket_bytes, alignment};
}

TEST(BucketPlan, DefaultsTo512MiBBucketsAnd256ByteAlignment) {
  bucket_options o;
  EXPECT_EQ(o.bucket_bytes, size_t{512} << 20);
  EXPECT_EQ(o.alignment, 256u);
}

TEST(BucketPlan, PacksSmallTensorsInOrderAtAlignedOffsets) {
  auto plan = plan_buckets({10, 300, 5}, small());
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->buckets.size(), 1u);
  auto& b = plan->buckets[0];
  ASSERT_EQ(b.segments.size(), 3u);
  EXPECT_EQ(b.segments[0].bucket_offset, 0u);
  EXPECT_EQ(b.segments[1].bucket_offset, 256u);
  EXPECT_EQ(b.segments[2].bucket_offset, 768u);
  EXPECT_EQ(b.bytes, 773u);
  EXPECT_EQ(b.payload, 315u);
  EXPECT_EQ(plan->total_bytes, 315u);
}

TEST(BucketPlan, ClosesABucketWhenTheNextTensorDoesNotFit) {
  auto plan = plan_buckets({600, 600}, small());
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->buckets.size(), 2u);
  EXPECT_EQ(plan->buckets[1].flat_offset, 768u); // 600 rounded up to 256
  EXPECT_EQ(plan->flat_bytes, 768u + 768u);
}

TEST(BucketPlan, SplitsATensorLargerThanABucketIntoFullChunks) {
  auto plan = plan_buckets({100, 2500, 50}, small());
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->buckets.size(), 4u);
  auto& b = plan->buckets;
  EXPECT_EQ(b[0].payload, 100u);
  EXPECT_EQ(b[1].segments[0].tensor_offset, 0u);
  EXPECT_EQ(b[1].bytes, 1024u);
  EXPECT_EQ(b[2].segments[0].tensor_offset, 1024u);
  EXPECT_EQ(b[3].segments[0].tensor_offset, 2048u);
  EXPECT_EQ(b[3].segments[0].bytes, 452u);
  EXPECT_EQ(b[3].segments[1].tensor, 2u);
  EXPECT_EQ(b[3].segments[1].bucket_offset, 512u);
}

TEST(BucketPlan, KeepsEveryTensorContiguousInTheFlatLayout) {
  auto plan = plan_buckets({100, 2500, 50}, small());
  ASSERT_TRUE(plan);
  size_t start = flat_offset_of(*plan, 1);
  for (auto& b : plan->buckets)
    for (auto& s : b.segments)
      if (s.tensor == 1) {
        EXPECT_EQ(b.flat_offset + s.bucket_offset, start + s.tensor_offset);
      }
}

TEST(BucketPlan, CoversEveryByteOnceAndNoBucketExceedsTheLimit) {
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 200; ++i)
    sizes.push_back((i * 7919) % 3001 + (i % 5 == 0 ? 0 : 1));
  auto plan = plan_buckets(sizes, small(2048, 128));
  ASSERT_TRUE(plan);
  std::vector<size_t> covered(sizes.size(), 0);
  for (auto& b : plan->buckets) {
    EXPECT_LE(b.bytes, 2048u);
    EXPECT_EQ(b.flat_offset % 128, 0u);
    for (auto& s : b.segments) {
      EXPECT_EQ(s.bucket_offset % 128, 0u);
      EXPECT_EQ(s.tensor_offset, covered[s.tensor]); // in order, no gaps
      covered[s.tensor] += s.bytes;
    }
  }
  EXPECT_EQ(covered, sizes);
}

TEST(BucketPlan, GivesZeroByteTensorsNoSegment) {
  auto plan = plan_buckets({0, 8, 0}, small());
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->buckets.size(), 1u);
  EXPECT_EQ(plan->buckets[0].segments.size(), 1u);
  EXPECT_EQ(flat_offset_of(*plan, 0), SIZE_MAX);
  EXPECT_TRUE(plan_buckets({}, small())->buckets.empty());
}

TEST(BucketPlan, RefusesAlignmentThatIsNotAPowerOfTwoOrDoesNotDivideTheBucket) {
  EXPECT_TRUE(is(plan_buckets({1}, small(1024, 3)).error(), errc::invalid_argument));
  EXPECT_TRUE(is(plan_buckets({1}, small(1000, 256)).error(), errc::invalid_argument));
  EXPECT_TRUE(is(plan_buckets({1}, small(0, 256)).error(), errc::invalid_argument));
}

TEST(BucketPlan, DigestIsEqualForEqualInputsAndDiffersForOtherLayouts) {
  auto a = plan_buckets({10, 300, 5}, small());
  auto b = plan_buckets({10, 300, 5}, small());
  auto c = plan_buckets({10, 301, 5}, small());
  auto d = plan_buckets({10, 300, 5}, small(2048));
  EXPECT_EQ(a->layout_digest, b->layout_digest);
  EXPECT_NE(a->layout_digest, c->layout_digest);
  EXPECT_NE(a->layout_digest, d->layout_digest);
}

} // namespace
} // namespace tandem::nccl
