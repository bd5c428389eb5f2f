// comm_id: the communicator id survives bytes, hex and CAF serialization.
#include <gtest/gtest.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "runtime/error.hpp"
#include "runtime/nccl/comm_id.hpp"

namespace tandem::nccl {
namespace {

comm_id sample_id() {
  comm_id id;
  for (size_t i = 0; i < comm_id::size; ++i)
    id.bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  return id;
}

TEST(CommId, RoundTripsThroughBytes) {
  auto id = sample_id();
  auto back = from_bytes(to_bytes(id));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
}

TEST(CommId, RefusesAByteVectorOfTheWrongSize) {
  auto back = from_bytes(std::vector<uint8_t>(127));
  ASSERT_FALSE(back);
  EXPECT_TRUE(is(back.error(), errc::malformed_message));
}

TEST(CommId, RoundTripsThroughHexAndRefusesBadHex) {
  auto id = sample_id();
  auto hex = to_hex(id);
  EXPECT_EQ(hex.size(), 256u);
  auto back = from_hex(hex);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
  hex[17] = 'g';
  EXPECT_TRUE(is(from_hex(hex).error(), errc::malformed_message));
  EXPECT_TRUE(is(from_hex("abc").error(), errc::malformed_message));
}

TEST(CommId, RoundTripsThroughCafsBinarySerializer) {
  auto id = sample_id();
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  ASSERT_FALSE(sink(id));
  comm_id back;
  caf::binary_deserializer source{nullptr, buf};
  ASSERT_FALSE(source(back));
  EXPECT_EQ(back, id);
}

} // namespace
} // namespace tandem::nccl
