// control_requests_test.cpp: the control endpoints' JSON bodies
// (console/internal/control_requests.hpp).

#include "console/internal/control_requests.hpp"

#include <gtest/gtest.h>

#include "runtime/error.hpp"

namespace tandem {
namespace {

template <class T>
std::string error_of(const caf::expected<T>& result) {
  EXPECT_FALSE(result);
  return result ? std::string{} : describe(result.error());
}

TEST(ControlRequests, ScaleReadsRoleAndCount) {
  auto req = parse_scale_request(R"({"role":"reward","count":4})");
  ASSERT_TRUE(req) << describe(req.error());
  EXPECT_EQ(req->role, "reward");
  EXPECT_EQ(req->count, 4);
  EXPECT_TRUE(parse_scale_request(R"({"count":0,"role":"sampler"})"));
}

TEST(ControlRequests, ScaleErrorsNameTheField) {
  EXPECT_NE(error_of(parse_scale_request(R"({"count":2})")).find("\"role\" is missing"),
            std::string::npos);
  EXPECT_NE(error_of(parse_scale_request(R"({"role":"sampler"})")).find("\"count\" is missing"),
            std::string::npos);
  const std::string bad_role = error_of(parse_scale_request(R"({"role":"learner","count":1})"));
  EXPECT_NE(bad_role.find("request body:1:9: \"role\" must be \"sampler\" or \"reward\", got "
                          "\"learner\""),
            std::string::npos)
      << bad_role;
  EXPECT_NE(error_of(parse_scale_request(R"({"role":7,"count":1})"))
                .find("\"role\" must be a string"),
            std::string::npos);
  for (const char* count : {"-1", "1.5", "\"3\"", "4294967296"}) {
    const std::string err =
        error_of(parse_scale_request(std::string{R"({"role":"sampler","count":)"} + count + "}"));
    EXPECT_NE(err.find("\"count\" must be an integer from 0 to 2147483647"), std::string::npos)
        << count << ": " << err;
  }
}

TEST(ControlRequests, UnknownFieldsDuplicatesAndBadJsonAreRefused) {
  const std::string unknown =
      error_of(parse_scale_request(R"({"role":"sampler","count":1,"cuont":2})"));
  EXPECT_NE(unknown.find("unknown field \"cuont\" (expected \"role\", \"count\")"),
            std::string::npos)
      << unknown;
  EXPECT_NE(error_of(parse_scale_request(R"({"role":"sampler","role":"reward","count":1})"))
                .find("duplicate"),
            std::string::npos);
  const std::string bad = error_of(parse_scale_request("{\"role\":"));
  EXPECT_EQ(bad.rfind("invalid_argument: request body:1:", 0), 0u) << bad;
  EXPECT_NE(error_of(parse_scale_request("[1]")).find("expected a JSON object, got array"),
            std::string::npos);
  EXPECT_NE(error_of(parse_scale_request("")).find("\"role\" is missing"), std::string::npos);
}

TEST(ControlRequests, DrainNeedsANonEmptyName) {
  auto name = parse_drain_request(R"({"name":"sampler-3"})");
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, "sampler-3");
  EXPECT_NE(error_of(parse_drain_request(R"({"name":""})")).find("\"name\" must not be empty"),
            std::string::npos);
  EXPECT_NE(error_of(parse_drain_request("{}")).find("\"name\" is missing"), std::string::npos);
}

TEST(ControlRequests, StopTakesAnEmptyObjectOrNothing) {
  EXPECT_FALSE(parse_stop_request(""));
  EXPECT_FALSE(parse_stop_request(" {} "));
  const caf::error err = parse_stop_request(R"({"now":true})");
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("unknown field \"now\" (expected none)"), std::string::npos);
}

} // namespace
} // namespace tandem
