// learner_state_test: the learner-state byte format (models/internal/
// learner_state.hpp) on hand-made blobs: a round trip keeps names, dtypes,
// shapes and bytes, and a blob whose checksum is right but whose lengths lie
// is refused, never read past its end.
#include "models/internal/learner_state.hpp"

#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"

namespace tandem::internal {
namespace {

std::vector<char> sample_blob() {
  learner_state_writer w(42);
  const int64_t step = 7;
  const float m[6] = {1, -2, 3.5f, 0, 1e-30f, -0.0f};
  w.add("a.step", state_dtype::int64, {}, &step);
  w.add("a.m", state_dtype::float32, {2, 3}, m);
  w.add("b.zeros", state_dtype::float32, {4}, nullptr);
  return w.finish();
}

// Rewrites the checksum after a deliberate edit, as a forger would.
void reseal(std::vector<char>& blob) {
  const auto body = blob.size() - 8;
  const auto sum = fast_checksum64(blob.data(), body);
  std::memcpy(blob.data() + body, &sum, 8);
}

TEST(LearnerState, RoundTripKeepsNamesShapesAndBytes) {
  const auto blob = sample_blob();
  auto p = parse_learner_state(blob.data(), blob.size());
  ASSERT_TRUE(p) << describe(p.error());
  EXPECT_EQ(p->policy_version, 42);
  ASSERT_EQ(p->tensors.size(), 3u);
  EXPECT_EQ(p->tensors[0].name, "a.step");
  EXPECT_EQ(p->tensors[0].dtype, state_dtype::int64);
  EXPECT_TRUE(p->tensors[0].shape.empty());
  int64_t step = 0;
  std::memcpy(&step, p->tensors[0].data, 8);
  EXPECT_EQ(step, 7);
  EXPECT_EQ(p->tensors[1].shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(p->tensors[1].bytes, 24u);
  float m[6];
  std::memcpy(m, p->tensors[1].data, 24);
  EXPECT_EQ(m[2], 3.5f);
  EXPECT_TRUE(std::signbit(m[5])) << "bytes are copied, not values";
  std::vector<char> zeros(16, 0);
  EXPECT_EQ(std::memcmp(p->tensors[2].data, zeros.data(), 16), 0);
  EXPECT_EQ(std::string(blob.data(), 8), "TNDMLRST");
}

// The entropy control's state rides as the last tensor, bit for bit, and is
// taken off before the AdamW tensors are matched; a blob without it has none.
TEST(LearnerState, EntropyControlIsTakenOffTheEnd) {
  learner_state_writer w(3);
  const int64_t step = 1;
  w.add("a.step", state_dtype::int64, {}, &step);
  write_entropy_control(0.1 + 0.2, std::nextafter(0.25, 1.0), w);
  const auto blob = w.finish();
  auto p = parse_learner_state(blob.data(), blob.size());
  ASSERT_TRUE(p) << describe(p.error());
  auto st = take_entropy_control(p->tensors);
  ASSERT_TRUE(st && *st);
  EXPECT_EQ((*st)->alpha, 0.1 + 0.2);
  EXPECT_EQ((*st)->last_entropy, std::nextafter(0.25, 1.0));
  ASSERT_EQ(p->tensors.size(), 1u);
  auto none = take_entropy_control(p->tensors);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_EQ(p->tensors.size(), 1u);

  learner_state_writer bad(3);
  const float f[2] = {1, 2};
  bad.add("entropy_control", state_dtype::float32, {2}, f);
  const auto bad_blob = bad.finish();
  auto q = parse_learner_state(bad_blob.data(), bad_blob.size());
  ASSERT_TRUE(q);
  auto refused = take_entropy_control(q->tensors);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), errc::malformed_message));
  EXPECT_NE(describe(refused.error()).find("expected int64 [2]"), std::string::npos);
}

TEST(LearnerState, LyingLengthsUnderAValidChecksumAreRefused) {
  const auto blob = sample_blob();
  const size_t first_tensor = 32;
  auto expect_malformed = [](std::vector<char> b, const std::string& why) {
    reseal(b);
    auto p = parse_learner_state(b.data(), b.size());
    ASSERT_FALSE(p) << why;
    EXPECT_TRUE(is(p.error(), errc::malformed_message)) << describe(p.error());
    EXPECT_NE(describe(p.error()).find(why), std::string::npos) << describe(p.error());
  };
  auto b = blob;
  const uint32_t huge = 0xFFFFFFF0u;
  std::memcpy(b.data() + first_tensor, &huge, 4); // name length
  expect_malformed(b, "name runs past the end");
  b = blob;
  b[first_tensor + 4 + 6] = 9; // dtype of "a.step"
  expect_malformed(b, "unknown dtype 9");
  b = blob;
  const int64_t dim = int64_t{1} << 60;
  // "a.m": after a.step's 4 + 6 + 1 + 4 + 8 bytes, then 4 + 3 + 1 + 4.
  std::memcpy(b.data() + first_tensor + 23 + 12, &dim, 8);
  expect_malformed(b, "'a.m'");
  b = blob;
  const uint32_t more = 4;
  std::memcpy(b.data() + 12, &more, 4); // tensor count
  expect_malformed(b, "tensor 3");
  b = blob;
  const uint32_t format = 2;
  std::memcpy(b.data() + 8, &format, 4);
  expect_malformed(b, "format version 2");
}

} // namespace
} // namespace tandem::internal
