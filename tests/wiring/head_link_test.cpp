// head_link tests: how a worker reads its head's down reason, and how
// rejoin_head stops (a stop request, a passed deadline) with no head there.
#include <chrono>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/head_link.hpp"

namespace tandem {
namespace {

TEST(HeadDown, ANormalEndIsAFinishedRunAndABrokenLinkALostHead) {
  EXPECT_EQ(classify_head_down(caf::error{}), head_down::finished);
  EXPECT_EQ(classify_head_down(caf::exit_reason::normal), head_down::finished);
  EXPECT_EQ(classify_head_down(caf::exit_reason::user_shutdown), head_down::finished);
  EXPECT_EQ(classify_head_down(caf::exit_reason::remote_link_unreachable),
            head_down::unreachable);
  EXPECT_EQ(classify_head_down(caf::exit_reason::unhandled_exception), head_down::failed);
  EXPECT_EQ(classify_head_down(caf::exit_reason::kill), head_down::failed);
}

struct RejoinHead : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  RejoinHead() {
    configure_actor_system(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

TEST_F(RejoinHead, AStopRequestEndsItBeforeAnyAttempt) {
  auto got = rejoin_head(*sys, "127.0.0.1:1", "s", "", std::chrono::steady_clock::now()
                                                        + std::chrono::hours{1},
                         [] { return true; });
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::not_ready)) << describe(got.error());
}

// Port 1 on loopback refuses at once: one bounded attempt, then the deadline.
TEST_F(RejoinHead, GivesUpAtItsDeadlineNamingTheLastAttempt) {
  auto got = rejoin_head(*sys, "127.0.0.1:1", "s", "", std::chrono::steady_clock::now(),
                         [] { return false; });
  ASSERT_FALSE(got);
  EXPECT_TRUE(is(got.error(), errc::timeout)) << describe(got.error());
  EXPECT_NE(describe(got.error()).find("127.0.0.1:1"), std::string::npos)
    << describe(got.error());
}

} // namespace
} // namespace tandem
