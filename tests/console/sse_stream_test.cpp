// sse_stream_test.cpp: one SSE client's messages and cursor
// (console/internal/sse_stream.hpp), without HTTP.

#include "console/internal/sse_stream.hpp"

#include <gtest/gtest.h>

namespace tandem {
namespace {

using namespace std::chrono_literals;

constexpr auto no_wait = std::chrono::milliseconds(0);

/// The "event:" names of the messages in `text`, in order.
std::vector<std::string> names(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = text.find("event: ", pos)) != std::string::npos) {
    size_t end = text.find('\n', pos);
    out.push_back(text.substr(pos + 7, end - pos - 7));
    pos = end;
  }
  return out;
}

std::vector<std::string> repeat(const std::string& s, size_t n) {
  return std::vector<std::string>(n, s);
}

TEST(SseMessage, WritesEachLineOfTheDataAsItsOwnField) {
  EXPECT_EQ(sse_message("run", "{\"a\":1}"), "event: run\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(sse_message("x", "a\r\nb\nc", "id1"),
            "event: x\nid: id1\ndata: a\ndata: b\ndata: c\n\n");
}

TEST(SseStreamId, RoundTripsAndRefusesAnotherInstancesIds) {
  const std::string id = format_stream_id("abcd", sse_cursor{12, 340});
  EXPECT_EQ(id, "abcd/12/340");
  auto back = parse_stream_id("abcd", id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->after_event, 12u);
  EXPECT_EQ(back->after_step, 340);
  EXPECT_FALSE(parse_stream_id("efgh", id));
  EXPECT_FALSE(parse_stream_id("abcd", "abcd/12"));
  EXPECT_FALSE(parse_stream_id("abcd", "abcd/x/1"));
  EXPECT_FALSE(parse_stream_id("abcd", "abcd/1/-2"));
  EXPECT_FALSE(parse_stream_id("abcd", ""));
  EXPECT_TRUE(parse_stream_id("abcd", "abcd/0/-1"));
}

TEST(SseStream, FirstTextHasTheCursorTheSnapshotAndTheBacklogInOrder) {
  auto state = std::make_shared<console_state>();
  state->publish("[\"actors\"]", "{\"run\":1}", "");
  state->add_event("{\"kind\":\"join\"}");
  state->add_metrics(1, "{\"step\":1}");
  state->add_metrics(2, "{\"step\":2}");
  sse_stream stream{state, "inst", sse_cursor{}};
  const std::string text = stream.next(no_wait);
  EXPECT_EQ(text.rfind("retry: 2000\n\n", 0), 0u);
  EXPECT_EQ(names(text), (std::vector<std::string>{"cursor", "actors", "run", "event",
                                                   "metrics", "metrics"}));
  EXPECT_NE(text.find("data: {\"after_event\":0,\"after_step\":-1}"), std::string::npos);
  EXPECT_NE(text.find("id: inst/1/2\ndata: {\"step\":2}"), std::string::npos);
  EXPECT_EQ(stream.cursor().after_event, 1u);
  EXPECT_EQ(stream.cursor().after_step, 2);
}

TEST(SseStream, SendsOnlyWhatChangedAndNothingWhenNothingDid) {
  auto state = std::make_shared<console_state>();
  state->publish("a1", "r1", "");
  sse_stream stream{state, "i", sse_cursor{}};
  stream.next(no_wait);
  EXPECT_EQ(stream.next(1ms), "");
  state->publish("a2", "r2", "");
  EXPECT_EQ(stream.next(no_wait), "event: actors\ndata: a2\n\nevent: run\ndata: r2\n\n");
  state->add_event("{}");
  EXPECT_EQ(names(stream.next(no_wait)), std::vector<std::string>{"event"});
  state->add_metrics(5, "{}");
  EXPECT_EQ(names(stream.next(no_wait)), std::vector<std::string>{"metrics"});
}

TEST(SseStream, NothingPublishedYetSendsNoSnapshot) {
  auto state = std::make_shared<console_state>();
  sse_stream stream{state, "i", sse_cursor{}};
  EXPECT_EQ(names(stream.next(no_wait)), std::vector<std::string>{"cursor"});
}

TEST(SseStream, ResumesAfterTheGivenCursor) {
  auto state = std::make_shared<console_state>();
  for (int i = 0; i < 4; ++i)
    state->add_event("{}");
  for (int64_t s = 1; s <= 4; ++s)
    state->add_metrics(s, std::to_string(s));
  sse_stream stream{state, "i", sse_cursor{3, 2}};
  const std::string text = stream.next(no_wait);
  EXPECT_EQ(names(text), (std::vector<std::string>{"cursor", "event", "metrics", "metrics"}));
  EXPECT_NE(text.find("{\"id\":4}"), std::string::npos);
  EXPECT_NE(text.find("data: 3\n"), std::string::npos);
}

TEST(SseStream, ACursorPastTheStateStartsOver) {
  auto state = std::make_shared<console_state>();
  state->add_event("{}");
  state->add_metrics(1, "1");
  sse_stream stream{state, "i", sse_cursor{50, 900}}; // a client of an earlier head
  const std::string text = stream.next(no_wait);
  EXPECT_NE(text.find("{\"after_event\":0,\"after_step\":-1}"), std::string::npos);
  EXPECT_EQ(names(text), (std::vector<std::string>{"cursor", "event", "metrics"}));
}

TEST(SseStream, ABacklogComesInBatchesWithoutWaiting) {
  auto state = std::make_shared<console_state>();
  const size_t n = sse_stream::batch * 2 + 10;
  for (size_t i = 0; i < n; ++i)
    state->add_event("{}");
  sse_stream stream{state, "i", sse_cursor{}};
  auto first = names(stream.next(no_wait));
  EXPECT_EQ(first.size(), 1 + sse_stream::batch);
  // Would block for an hour if it waited for news while behind.
  EXPECT_EQ(names(stream.next(1h)), repeat("event", sse_stream::batch));
  EXPECT_EQ(names(stream.next(1h)), repeat("event", 10));
  EXPECT_EQ(stream.cursor().after_event, n);
  EXPECT_EQ(stream.next(1ms), "");
}

TEST(SseStream, ACutBackSendsANewCursorAndTheRecordsAgain) {
  auto state = std::make_shared<console_state>();
  for (int64_t s = 1; s <= 5; ++s)
    state->add_metrics(s, "old" + std::to_string(s));
  sse_stream stream{state, "i", sse_cursor{}};
  stream.next(no_wait);
  state->add_metrics(3, "new3"); // a resumed run, replacing the step the client holds
  const std::string text = stream.next(no_wait);
  EXPECT_EQ(names(text), (std::vector<std::string>{"cursor", "metrics", "metrics", "metrics"}));
  EXPECT_NE(text.find("{\"after_event\":0,\"after_step\":-1}"), std::string::npos);
  EXPECT_NE(text.find("data: new3"), std::string::npos);
  EXPECT_EQ(stream.cursor().after_step, 3);
}

} // namespace
} // namespace tandem
