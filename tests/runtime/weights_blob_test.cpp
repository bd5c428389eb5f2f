// Weight chunking: a version is handed out only when complete and verified.
#include <algorithm>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "runtime/checkpoint.hpp"
#include "runtime/checksum.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {
namespace {

std::vector<char> blob(size_t n, char seed) {
  std::vector<char> b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<char>(seed + i * 7);
  return b;
}

// The data-plane checksum: every single-bit flip of a 1000-byte buffer (all
// 8000 of them) and every truncation changes it, and it depends on the bytes,
// not on their address.
TEST(Checksum, EveryBitFlipAndEveryLengthChangesTheChecksum) {
  std::vector<char> buf(1000);
  for (size_t i = 0; i < buf.size(); ++i)
    buf[i] = static_cast<char>(i * 131 + 7);
  const auto base = fast_checksum64(buf.data(), buf.size());
  for (size_t bit = 0; bit < buf.size() * 8; ++bit) {
    buf[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    ASSERT_NE(fast_checksum64(buf.data(), buf.size()), base) << "bit " << bit;
    buf[bit / 8] ^= static_cast<char>(1 << (bit % 8));
  }
  std::set<uint64_t> lengths;
  for (size_t n = 0; n <= buf.size(); ++n)
    lengths.insert(fast_checksum64(buf.data(), n));
  EXPECT_EQ(lengths.size(), buf.size() + 1);
  std::vector<char> shifted(buf.size() + 3);
  std::copy(buf.begin(), buf.end(), shifted.begin() + 3);
  EXPECT_EQ(fast_checksum64(shifted.data() + 3, buf.size()), base);
  // Zeros of different lengths differ too (the length is mixed in).
  std::vector<char> zeros(64, 0);
  EXPECT_NE(fast_checksum64(zeros.data(), 32), fast_checksum64(zeros.data(), 64));
}

// A recycled buffer still holds the previous version's bytes; the next
// version must come out exactly as sent, whatever the sizes.
TEST(WeightsBlob, RecycledBuffersYieldExactlyTheNewVersion) {
  weights_assembler a;
  uint64_t bad = 0;
  auto assemble = [&](int64_t v, const std::vector<char>& blob) {
    std::optional<weights_version> got;
    for (auto& c : split_weights(v, blob, 7))
      if (auto r = accept_chunk(a, c, "t", bad))
        got = std::move(r);
    return got;
  };
  auto first = assemble(1, std::vector<char>(50, 'a'));
  ASSERT_TRUE(first);
  a.recycle(std::move(first->bytes));
  std::vector<char> second(50);
  for (size_t i = 0; i < second.size(); ++i)
    second[i] = static_cast<char>('b' + i % 3);
  auto got = assemble(2, second);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, second);
  a.recycle(std::move(got->bytes));
  auto smaller = assemble(3, std::vector<char>(20, 'z')); // a different size
  ASSERT_TRUE(smaller);
  EXPECT_EQ(smaller->bytes, std::vector<char>(20, 'z'));
  EXPECT_EQ(bad, 0u);
}

TEST(WeightsBlob, SplitsIntoEqualChunksWithShorterLast) {
  auto cs = split_weights(3, blob(25, 1), 10);
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0].bytes.size(), 10u);
  EXPECT_EQ(cs[2].bytes.size(), 5u);
  for (auto& c : cs) {
    EXPECT_EQ(c.version, 3);
    EXPECT_EQ(c.count, 3u);
    EXPECT_EQ(c.total_size, 25u);
  }
}

TEST(WeightsBlob, ReassemblesOutOfOrderOnlyWhenComplete) {
  auto b = blob(25, 1);
  auto cs = split_weights(3, b, 10);
  weights_assembler a;
  EXPECT_FALSE(*a.add(cs[2]));
  EXPECT_FALSE(*a.add(cs[0]));
  auto done = a.add(cs[1]);
  ASSERT_TRUE(done && *done);
  EXPECT_EQ((*done)->version, 3);
  EXPECT_EQ((*done)->bytes, b);
}

TEST(WeightsBlob, CorruptedChunkFailsTheChecksumAndIsNotApplied) {
  auto cs = split_weights(1, blob(20, 1), 10);
  cs[1].bytes[3] ^= 0x40;
  weights_assembler a;
  EXPECT_FALSE(*a.add(cs[0]));
  auto r = a.add(cs[1]);
  EXPECT_FALSE(r);
}

TEST(WeightsBlob, NewerVersionSupersedesAHalfReceivedOne) {
  auto old_cs = split_weights(1, blob(20, 1), 10);
  auto new_cs = split_weights(2, blob(20, 9), 10);
  weights_assembler a;
  EXPECT_FALSE(*a.add(old_cs[0]));
  EXPECT_FALSE(*a.add(new_cs[0]));
  EXPECT_FALSE(*a.add(old_cs[1])); // dropped: older than the one assembling
  auto done = a.add(new_cs[1]);
  ASSERT_TRUE(done && *done);
  EXPECT_EQ((*done)->version, 2);
}

TEST(WeightsBlob, MalformedHeadersAreRejected) {
  weights_assembler a;
  auto c = split_weights(1, blob(20, 1), 10)[0];
  auto bad = c;
  bad.index = 5;
  EXPECT_FALSE(a.add(bad));
  bad = c;
  bad.total_size = weights_assembler::max_total_bytes + 1;
  EXPECT_FALSE(a.add(bad));
  EXPECT_FALSE(*a.add(c));
  bad = split_weights(1, blob(20, 1), 10)[1];
  bad.count = 3;
  EXPECT_FALSE(a.add(bad)); // disagrees with the first chunk
}

// A header announcing more chunks than bytes would only make the receiver
// allocate its bookkeeping (one bit per chunk, 512 MiB for 2^32 chunks).
TEST(WeightsBlob, MoreChunksThanBytesAreRejected) {
  weights_assembler a;
  auto c = split_weights(1, blob(4, 1), 1)[0];
  c.count = 5;
  EXPECT_FALSE(a.add(c));
  c.count = 0xffffffffu;
  EXPECT_FALSE(a.add(c));
  auto empty = split_weights(2, {}, 10)[0];
  empty.count = 2;
  EXPECT_FALSE(a.add(empty));
}

TEST(WeightsBlob, DuplicateChunkIsIdempotent) {
  auto cs = split_weights(4, blob(20, 1), 10);
  weights_assembler a;
  EXPECT_FALSE(*a.add(cs[0]));
  EXPECT_FALSE(*a.add(cs[0]));
  EXPECT_TRUE(*a.add(cs[1]));
}

// Also the fuzzer's first finding (fuzz/fuzz_weights_assembler.cpp): the
// empty chunk was copied with memcpy(nullptr, ...), undefined behaviour that
// UBSan reports (scripts/fuzz.sh, the sanitizer build).
TEST(WeightsBlob, EmptyWeightSetIsOneChunk) {
  auto cs = split_weights(0, {}, 10);
  ASSERT_EQ(cs.size(), 1u);
  weights_assembler a;
  EXPECT_TRUE(*a.add(cs[0]));
}

TEST(Checkpoint, RoundTripsAndDetectsCorruption) {
  auto path = ::testing::TempDir() + "/tandem_ckpt_test.tndm";
  auto b = blob(100, 3);
  ASSERT_FALSE(write_checkpoint(path, 17, b));
  auto w = read_checkpoint(path);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->version, 17);
  EXPECT_EQ(w->bytes, b);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('x');
  }
  EXPECT_FALSE(read_checkpoint(path));
  EXPECT_FALSE(read_checkpoint(path + ".missing"));
}

} // namespace
} // namespace tandem
