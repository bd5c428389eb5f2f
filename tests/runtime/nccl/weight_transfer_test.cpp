// weight_transfer and version_intake: a version is installed only when every
// bucket arrived, each bucket has its own deadline, errors name where.
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <functional>

#include "runtime/error.hpp"
#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/manual_clock.hpp"
#include "runtime/nccl/weight_transfer.hpp"

namespace tandem::nccl {
namespace {

using namespace std::chrono_literals;

std::vector<uint8_t> pattern(size_t n, int64_t version) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i * 31 + version * 7 + 1);
  return v;
}

/// True if the tensors' bytes (not the alignment padding) of two buffers in
/// the plan's flat layout are equal.
bool same_tensors(const bucket_plan& plan, const std::vector<uint8_t>& a,
                  const std::vector<uint8_t>& b) {
  for (auto& bk : plan.buckets)
    for (auto& s : bk.segments) {
      auto at = bk.flat_offset + s.bucket_offset;
      if (!std::equal(a.begin() + at, a.begin() + at + s.bytes, b.begin() + at))
        return false;
    }
  return true;
}

/// Calls `hook(index)` before handing out the spans of bucket `index`.
class hooked_memory final : public bucket_memory {
public:
  hooked_memory(bucket_memory& inner, std::function<void(size_t)> hook)
    : inner_(inner), hook_(std::move(hook)) {}
  std::vector<device_span> spans(const bucket_plan& plan, size_t index) override {
    hook_(index);
    return inner_.spans(plan, index);
  }

private:
  bucket_memory& inner_;
  std::function<void(size_t)> hook_;
};

struct WeightTransfer : ::testing::Test {
  manual_clock clock;
  fake_fabric fabric;
  fake_collective root{fabric, clock};
  fake_collective peer{fabric, clock};
  // 6 buckets of <= 1 KiB: {t0: 1024, 1024, 952}, {t1}, {t2: 1024}, {t2: 176}
  bucket_plan plan = *plan_buckets({3000, 500, 1200}, {1024, 256});
  std::vector<std::vector<uint8_t>> root_tensors{pattern(3000, 2), pattern(500, 3),
                                                 pattern(1200, 4)};
  std::vector<std::vector<uint8_t>> peer_tensors{std::vector<uint8_t>(3000),
                                                 std::vector<uint8_t>(500),
                                                 std::vector<uint8_t>(1200)};
  tensor_memory root_mem{{root_tensors[0].data(), root_tensors[1].data(),
                          root_tensors[2].data()}};
  tensor_memory peer_mem{{peer_tensors[0].data(), peer_tensors[1].data(),
                          peer_tensors[2].data()}};
  version_intake intake;
  transfer_options options;

  void SetUp() override {
    auto id = *root.make_id();
    ASSERT_FALSE(peer.init(1, 2, id, clock.now() + 1s));
    ASSERT_FALSE(root.init(0, 2, id, clock.now() + 1s));
  }
};

TEST_F(WeightTransfer, PlanHasSixBuckets) {
  ASSERT_EQ(plan.buckets.size(), 6u);
}

TEST_F(WeightTransfer, ReceiverInstallsAfterEveryBucketArrivedWithTheRootsBytes) {
  auto h = make_header(1, 1, plan);
  auto sent = send_version(root, clock, h, plan, root_mem, options);
  ASSERT_TRUE(sent) << describe(sent.error());
  EXPECT_EQ(sent->buckets, 6u);
  EXPECT_EQ(sent->bytes, 4700u);
  auto got = receive_version(peer, clock, h, plan, peer_mem, intake, false, options);
  ASSERT_TRUE(got) << describe(got.error());
  EXPECT_EQ(peer_tensors, root_tensors);
  EXPECT_EQ(intake.installed_version(), 1);
  EXPECT_FALSE(intake.torn());
}

TEST_F(WeightTransfer, PackedMemorySendsOneSpanPerBucket) {
  auto flat_root = pattern(plan.flat_bytes, 9);
  std::vector<uint8_t> flat_peer(plan.flat_bytes);
  packed_memory a{flat_root.data()}, b{flat_peer.data()};
  auto h = make_header(1, 1, plan);
  ASSERT_TRUE(send_version(root, clock, h, plan, a, options));
  ASSERT_TRUE(receive_version(peer, clock, h, plan, b, intake, false, options));
  EXPECT_TRUE(same_tensors(plan, flat_peer, flat_root));
}

TEST_F(WeightTransfer, FailureAtABucketLeavesThePreviousVersionInstalled) {
  auto h1 = make_header(1, 1, plan);
  ASSERT_TRUE(send_version(root, clock, h1, plan, root_mem, options));
  ASSERT_TRUE(receive_version(peer, clock, h1, plan, peer_mem, intake, false, options));
  peer.hang_at_broadcast(6 + 2); // third bucket of the second version
  auto h2 = make_header(2, 1, plan);
  ASSERT_TRUE(send_version(root, clock, h2, plan, root_mem, options));
  auto got = receive_version(peer, clock, h2, plan, peer_mem, intake, false, options);
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::collective_timeout));
  EXPECT_NE(describe(got.error()).find("epoch 1, version 2, bucket 3/6"), std::string::npos)
    << describe(got.error());
  EXPECT_EQ(intake.installed_version(), 1);
  EXPECT_FALSE(intake.receiving());
  EXPECT_FALSE(intake.torn()) << "staging receive: the installed copy is intact";
}

TEST_F(WeightTransfer, FailedInPlaceReceiveMarksTheWeightsTorn) {
  peer.hang_at_broadcast(1);
  auto h = make_header(1, 1, plan);
  ASSERT_TRUE(send_version(root, clock, h, plan, root_mem, options));
  ASSERT_FALSE(receive_version(peer, clock, h, plan, peer_mem, intake, true, options));
  EXPECT_TRUE(intake.torn());
  EXPECT_EQ(intake.installed_version(), -1);
}

TEST_F(WeightTransfer, DeadPeerCostsTheRootExactlyOneBucketBudget) {
  hooked_memory dying{root_mem, [&](size_t i) {
                        if (i == 3)
                          peer.crash(); // dies while bucket 4/6 is in flight
                      }};
  auto h = make_header(1, 7, plan);
  auto start = clock.now();
  auto sent = send_version(root, clock, h, plan, dying, options);
  ASSERT_FALSE(sent);
  EXPECT_TRUE(is(sent.error(), errc::collective_timeout));
  EXPECT_NE(describe(sent.error()).find("epoch 7, version 1, bucket 4/6"), std::string::npos)
    << describe(sent.error());
  auto budget = bucket_budget(plan, 3, options.timeouts);
  EXPECT_GE(clock.now() - start, budget);
  EXPECT_LT(clock.now() - start, budget + 2ms);
  EXPECT_FALSE(root.ready());
}

TEST_F(WeightTransfer, BucketBudgetScalesWithBytesAndOnlyTheFirstHasGrace) {
  transfer_timeouts t;
  t.bucket_base = 1s;
  t.min_bytes_per_s = 1024; // one bucket of 1 KiB = 1 s on the wire
  t.first_bucket_grace = 10s;
  EXPECT_EQ(bucket_budget(plan, 0, t), 12s);
  EXPECT_EQ(bucket_budget(plan, 1, t), 2s);
}

TEST_F(WeightTransfer, ReceiverRefusesAnotherLayoutBeforePostingAnything) {
  auto other = *plan_buckets({3000, 500, 1201}, {1024, 256});
  auto h = make_header(1, 1, other);
  auto got = receive_version(peer, clock, h, plan, peer_mem, intake, false, options);
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::version_mismatch));
  EXPECT_TRUE(peer.ready()) << "nothing was posted, the communicator is intact";
  EXPECT_EQ(clock.elapsed(), 0s);
}

TEST_F(WeightTransfer, ReceiverRefusesAVersionNotNewerThanTheInstalledOne) {
  auto h = make_header(3, 1, plan);
  ASSERT_TRUE(send_version(root, clock, h, plan, root_mem, options));
  ASSERT_TRUE(receive_version(peer, clock, h, plan, peer_mem, intake, false, options));
  auto again = receive_version(peer, clock, h, plan, peer_mem, intake, false, options);
  EXPECT_TRUE(is(again.error(), errc::version_mismatch));
}

TEST_F(WeightTransfer, SenderRefusesAHeaderThatDoesNotDescribeItsPlan) {
  auto h = make_header(1, 1, plan);
  h.total_bytes += 1;
  EXPECT_TRUE(is(send_version(root, clock, h, plan, root_mem, options).error(),
                 errc::invalid_argument));
}

// -- pipelining: buckets queued ahead, per-bucket deadlines ------------------

/// When each bucket of `plan` completes on a link of `rate` bytes/s that
/// runs them back to back from time 0 (the fake's stream model).
std::vector<duration> back_to_back(const bucket_plan& plan, double rate) {
  std::vector<duration> done;
  double at = 0;
  for (auto& b : plan.buckets) {
    at += static_cast<double>(b.payload) / rate;
    done.push_back(std::chrono::duration_cast<duration>(std::chrono::duration<double>(at)));
  }
  return done;
}

TEST_F(WeightTransfer, RootKeepsAWindowOfDepthBucketsPostedAhead) {
  fabric.set_link_bytes_per_s(1024); // a 1 KiB bucket takes 1 s
  options.depth = 3;
  std::vector<duration> asked_at;
  hooked_memory watch{root_mem, [&](size_t i) {
                        asked_at.push_back(clock.elapsed());
                        EXPECT_LT(root.in_flight(), options.depth) << "bucket " << i;
                      }};
  ASSERT_TRUE(send_version(root, clock, make_header(1, 1, plan), plan, watch, options));
  auto done = back_to_back(plan, 1024);
  ASSERT_EQ(asked_at.size(), 6u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(asked_at[i], 0s) << "bucket " << i << " is posted before any wait";
  for (size_t i = 3; i < 6; ++i) { // posted once bucket i-3 is seen done
    EXPECT_GE(asked_at[i], done[i - 3]) << "bucket " << i;
    EXPECT_LT(asked_at[i], done[i - 3] + 1ms) << "bucket " << i;
  }
}

TEST_F(WeightTransfer, PipelinedBucketsRunBackToBackSoPollingLagIsPaidOnce) {
  fabric.set_link_bytes_per_s(3000); // fractions of a poll tick per bucket
  auto wire = back_to_back(plan, 3000).back();
  auto sent = send_version(root, clock, make_header(1, 1, plan), plan, root_mem, options);
  ASSERT_TRUE(sent) << describe(sent.error());
  EXPECT_GE(sent->elapsed, wire);
  EXPECT_LT(sent->elapsed, wire + 1ms) << "one poll tick at the end, not one per bucket";
  ASSERT_TRUE(receive_version(peer, clock, make_header(1, 1, plan), plan, peer_mem, intake,
                              false, options));
  EXPECT_EQ(peer_tensors, root_tensors);

  // The same version without pipelining pays a poll tick per bucket boundary.
  manual_clock clock1;
  fake_fabric fabric1;
  fabric1.set_link_bytes_per_s(3000);
  fake_collective root1{fabric1, clock1}, peer1{fabric1, clock1};
  auto id = *root1.make_id();
  ASSERT_FALSE(peer1.init(1, 2, id, clock1.now() + 1s));
  ASSERT_FALSE(root1.init(0, 2, id, clock1.now() + 1s));
  transfer_options serial;
  serial.depth = 1;
  auto slow = send_version(root1, clock1, make_header(1, 1, plan), plan, root_mem, serial);
  ASSERT_TRUE(slow) << describe(slow.error());
  duration ticks{}; // each bucket starts on the tick its predecessor was seen done
  for (auto& b : plan.buckets)
    ticks += std::chrono::ceil<std::chrono::milliseconds>(
      std::chrono::duration<double>(static_cast<double>(b.payload) / 3000));
  EXPECT_EQ(slow->elapsed, ticks);
  EXPECT_GT(slow->elapsed, sent->elapsed);
}

TEST_F(WeightTransfer, SlowButLiveLinkIsNotBlamedForTimeSpentOnEarlierBuckets) {
  options.timeouts.bucket_base = 1s;
  options.timeouts.min_bytes_per_s = 1e12; // budget: 1 s a bucket
  options.timeouts.first_bucket_grace = 0s;
  fabric.set_link_bytes_per_s(1100); // 1 KiB in 0.93 s: every bucket in time
  auto h = make_header(1, 1, plan);
  auto sent = send_version(root, clock, h, plan, root_mem, options);
  ASSERT_TRUE(sent) << describe(sent.error());
  EXPECT_GT(sent->elapsed, 4s) << "all six were posted at 0; bucket 6 ended after 4 s";
  EXPECT_TRUE(receive_version(peer, clock, h, plan, peer_mem, intake, false, options));
}

TEST_F(WeightTransfer, PeerDyingMidVersionIsBlamedOnTheBucketOnTheWire) {
  fabric.set_link_bytes_per_s(1024); // buckets end at 1 s, 2 s, 2.93 s, ...
  peer.crash_at(clock.now() + 2500ms); // while bucket 3 is on the wire
  auto sent = send_version(root, clock, make_header(1, 7, plan), plan, root_mem, options);
  ASSERT_FALSE(sent);
  EXPECT_TRUE(is(sent.error(), errc::collective_timeout)) << describe(sent.error());
  EXPECT_NE(describe(sent.error()).find("epoch 7, version 1, bucket 3/6"), std::string::npos)
    << describe(sent.error());
  // Bucket 3's deadline runs from when bucket 2 was seen done (2 s) ...
  auto budget = bucket_budget(plan, 2, options.timeouts);
  EXPECT_GE(clock.elapsed(), 2s + budget);
  EXPECT_LT(clock.elapsed(), 2s + budget + 2ms);
  // ... within the cumulative bound of buckets 1-3.
  EXPECT_LE(clock.elapsed(), bucket_budget(plan, 0, options.timeouts)
                               + bucket_budget(plan, 1, options.timeouts) + budget);
  EXPECT_FALSE(root.ready());
  EXPECT_EQ(root.aborts(), 1u);
  EXPECT_EQ(root.in_flight(), 0u) << "nothing left in flight after the error";
}

TEST_F(WeightTransfer, RootDyingMidVersionCostsAReceiverOneBucketBudget) {
  auto h1 = make_header(1, 1, plan);
  ASSERT_TRUE(send_version(root, clock, h1, plan, root_mem, options));
  ASSERT_TRUE(receive_version(peer, clock, h1, plan, peer_mem, intake, false, options));
  fabric.set_link_bytes_per_s(1024);
  root.crash_at(clock.now() + 2500ms); // buckets 1-2 of version 2 get out
  auto h2 = make_header(2, 1, plan);
  (void) send_version(root, clock, h2, plan, root_mem, options); // a dead process's call
  auto start = clock.now();
  auto got = receive_version(peer, clock, h2, plan, peer_mem, intake, false, options);
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::collective_timeout)) << describe(got.error());
  EXPECT_NE(describe(got.error()).find("version 2, bucket 3/6"), std::string::npos)
    << describe(got.error());
  auto budget = bucket_budget(plan, 2, options.timeouts);
  EXPECT_GE(clock.now() - start, budget);
  EXPECT_LT(clock.now() - start, budget + 2ms);
  EXPECT_EQ(intake.installed_version(), 1);
  EXPECT_FALSE(peer.ready());
}

TEST(WeightTransferPipeline, RemoteErrorIsPeerDownAsSoonAsThePeerDiesNamingTheBucket) {
  manual_clock clock;
  fake_fabric sockets{death_mode::remote_error};
  sockets.set_link_bytes_per_s(1024);
  fake_collective root{sockets, clock}, peer{sockets, clock};
  auto id = *root.make_id();
  ASSERT_FALSE(peer.init(1, 2, id, clock.now() + 1s));
  ASSERT_FALSE(root.init(0, 2, id, clock.now() + 1s));
  auto plan = *plan_buckets({1024, 1024, 1024}, {1024, 256});
  std::vector<uint8_t> flat(plan.flat_bytes);
  packed_memory mem{flat.data()};
  peer.crash_at(clock.now() + 1500ms);
  auto sent = send_version(root, clock, make_header(1, 3, plan), plan, mem);
  ASSERT_FALSE(sent);
  EXPECT_TRUE(is(sent.error(), errc::peer_down)) << describe(sent.error());
  EXPECT_NE(describe(sent.error()).find("bucket 2/3"), std::string::npos)
    << describe(sent.error());
  EXPECT_EQ(clock.elapsed(), 1500ms);
}

TEST_F(WeightTransfer, RefusesADepthOfZeroBeforePostingAnything) {
  options.depth = 0;
  auto sent = send_version(root, clock, make_header(1, 1, plan), plan, root_mem, options);
  EXPECT_TRUE(is(sent.error(), errc::invalid_argument));
  auto got = receive_version(peer, clock, make_header(1, 1, plan), plan, peer_mem, intake,
                             false, options);
  EXPECT_TRUE(is(got.error(), errc::invalid_argument));
  EXPECT_FALSE(intake.receiving());
  EXPECT_TRUE(root.ready());
  EXPECT_TRUE(peer.ready());
}

TEST(VersionIntake, FinishBeforeTheLastBucketInstallsNothing) {
  auto plan = *plan_buckets({600, 600}, {1024, 256});
  version_intake in;
  ASSERT_FALSE(in.begin(make_header(5, 1, plan), plan, false));
  ASSERT_FALSE(in.arrived(0, 600));
  auto done = in.finish();
  ASSERT_FALSE(done);
  EXPECT_TRUE(is(done.error(), errc::malformed_message));
  EXPECT_EQ(in.installed_version(), -1);
  EXPECT_FALSE(in.receiving());
}

TEST(VersionIntake, RefusesBucketsOutOfOrderOrOfTheWrongSize) {
  auto plan = *plan_buckets({600, 600}, {1024, 256});
  version_intake in;
  ASSERT_FALSE(in.begin(make_header(5, 1, plan), plan, false));
  EXPECT_TRUE(is(in.arrived(1, 600), errc::malformed_message));
  EXPECT_TRUE(is(in.arrived(0, 599), errc::malformed_message));
  EXPECT_TRUE(is(in.begin(make_header(6, 1, plan), plan, false), errc::invalid_argument))
    << "one version at a time";
  ASSERT_FALSE(in.arrived(0, 600));
  ASSERT_FALSE(in.arrived(1, 600));
  auto done = in.finish();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->version, 5);
  EXPECT_EQ(in.installed_version(), 5);
}

} // namespace
} // namespace tandem::nccl
