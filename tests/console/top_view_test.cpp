// top_view_test.cpp: `tandem top`'s model (console/top_model.hpp), frame
// (console/top_view.hpp) and keys (console/top_keys.hpp), from the fixture
// replies under tests/data/console/ (no terminal, no socket).
#include "console/top_keys.hpp"
#include "console/top_view.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "runtime/error.hpp"

namespace tandem {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TANDEM_TEST_DATA_DIR) + "/console/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

top_model loaded() {
  top_model m;
  m.source = "http://127.0.0.1:8080/";
  EXPECT_FALSE(parse_run(fixture("run.json"), m));
  EXPECT_FALSE(parse_actors(fixture("actors.json"), m));
  EXPECT_FALSE(parse_metrics(fixture("metrics.json"), m));
  m.reachable = m.ever_reached = true;
  return m;
}

size_t columns(const std::string& s) {
  size_t n = 0;
  for (char c : s)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The NAME cell of each table row (rows start with the gutter and ROLE).
std::vector<std::string> names(const std::vector<std::string>& frame) {
  std::vector<std::string> out;
  bool table = false;
  for (auto& l : frame) {
    if (l.find(" ROLE") == 0) {
      table = true;
      continue;
    }
    if (!table || l.size() < 10 || l.find("q quit") == 0)
      continue;
    std::istringstream in(l.substr(1));
    std::string role, name;
    in >> role >> name;
    if (!name.empty())
      out.push_back(name);
  }
  return out;
}

std::string joined(const std::vector<std::string>& frame) {
  std::string out;
  for (auto& l : frame)
    out += l + "\n";
  return out;
}

TEST(TopView, ParsesTheConsoleReplies) {
  auto m = loaded();
  EXPECT_EQ(m.run.status, "training");
  EXPECT_EQ(m.run.step, 20);
  EXPECT_EQ(m.run.incarnation, 2);
  ASSERT_TRUE(m.run.cause);
  EXPECT_EQ(m.run.cause->kind, "samplers_waiting_for_weights");
  EXPECT_EQ(m.run.reward_invalid, 14u);
  ASSERT_EQ(m.actors.size(), 7u);
  EXPECT_EQ(m.actors[0].phase, "backward");
  EXPECT_EQ(m.actors[0].queues.at(0).capacity, 4u);
  EXPECT_EQ(m.actors[4].state, "dead");
  EXPECT_EQ(m.actors[4].last_error, "CUDA out of memory");
  EXPECT_EQ(m.counts.size(), 7u);
  ASSERT_EQ(m.rewards.size(), 20u);
  EXPECT_EQ(m.last_step, 20);
  EXPECT_DOUBLE_EQ(m.rewards.back().second, 0.6);
}

TEST(TopView, MissingKeysKeepTheirDefaults) {
  top_model m;
  EXPECT_FALSE(parse_run("{}", m));
  EXPECT_FALSE(parse_actors(R"({"actors":[{"name":"x","pid":"not a number"}]})", m));
  EXPECT_FALSE(parse_metrics(R"({"records":[{"step":3},{"reward_mean":1}]})", m));
  EXPECT_EQ(m.run.status, "starting");
  EXPECT_FALSE(m.run.cause);
  ASSERT_EQ(m.actors.size(), 1u);
  EXPECT_EQ(m.actors[0].pid, 0);
  EXPECT_EQ(m.actors[0].version, -1);
  ASSERT_EQ(m.rewards.size(), 1u); // the record without a step is skipped
  EXPECT_TRUE(std::isnan(m.rewards[0].second));
  EXPECT_FALSE(parse_run(R"({"cause":null})", m));
  EXPECT_FALSE(m.run.cause);
}

TEST(TopView, AReplyThatIsNotAnObjectNamesItsEndpoint) {
  top_model m;
  auto err = parse_actors("[1,2]", m);
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("/api/actors"), std::string::npos) << describe(err);
  err = parse_run("{\"status\":", m);
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("/api/run"), std::string::npos) << describe(err);
}

TEST(TopView, AResumedRunRewindsTheRewardCurve) {
  auto m = loaded();
  // The head restarted from step 15's checkpoint: steps 16.. come again.
  EXPECT_FALSE(parse_run(R"({"step":15})", m));
  EXPECT_EQ(m.last_step, 15);
  EXPECT_EQ(m.rewards.back().first, 15);
  EXPECT_FALSE(parse_metrics(R"({"records":[{"step":16,"reward_mean":0.9}],"last_step":16})", m));
  EXPECT_EQ(m.rewards.size(), 16u);
  EXPECT_DOUBLE_EQ(m.rewards.back().second, 0.9);
  // A repeated step replaces the held one.
  EXPECT_FALSE(parse_metrics(R"({"records":[{"step":16,"reward_mean":0.1}]})", m));
  EXPECT_EQ(m.rewards.size(), 16u);
  EXPECT_DOUBLE_EQ(m.rewards.back().second, 0.1);
}

TEST(TopView, RefreshAsksForMetricsAfterTheLastStepAndKeepsDataWhenUnreachable) {
  top_model m;
  std::vector<std::string> asked;
  bool up = true;
  top_fetch fetch = [&](const std::string& path) -> caf::expected<std::string> {
    asked.push_back(path);
    if (!up)
      return make_error(errc::io_failure, "GET " + path + ": cannot connect");
    if (path == "/api/run")
      return fixture("run.json");
    if (path == "/api/actors")
      return fixture("actors.json");
    return fixture("metrics.json");
  };
  EXPECT_FALSE(refresh_model(m, fetch));
  EXPECT_TRUE(m.reachable);
  EXPECT_EQ(asked.back(), "/api/metrics?after=-1");
  EXPECT_FALSE(refresh_model(m, fetch));
  EXPECT_EQ(asked.back(), "/api/metrics?after=20");
  up = false;
  EXPECT_TRUE(refresh_model(m, fetch));
  EXPECT_FALSE(m.reachable);
  EXPECT_TRUE(m.ever_reached);
  EXPECT_NE(m.fetch_error.find("cannot connect"), std::string::npos);
  EXPECT_EQ(m.actors.size(), 7u);
  m.data_age_s = 7;
  auto frame = joined(render_top(m, view_options{}, 120, 30));
  EXPECT_NE(frame.find("reconnecting… data 7s old"), std::string::npos) << frame;
  EXPECT_NE(frame.find("sampler-0"), std::string::npos);
}

TEST(TopView, FrameHasHeaderCauseSparklineCountsAndTable) {
  auto frame = render_top(loaded(), view_options{}, 120, 30);
  ASSERT_EQ(frame.size(), 30u);
  EXPECT_EQ(frame[0].rfind("tandem top  http://127.0.0.1:8080/  training  incarnation 2  "
                           "elapsed 1h02m03s",
                           0),
            0u)
    << frame[0];
  EXPECT_EQ(frame[1].rfind("step 20/300  version 41  reward 0.625  accuracy 0.500  tok/s 23.7k", 0),
            0u)
    << frame[1];
  EXPECT_EQ(frame[2], "!! samplers_waiting_for_weights for 12s: sampler-1 waits for version 41");
  EXPECT_EQ(frame[3].rfind("reward ▁", 0), 0u) << frame[3];
  EXPECT_NE(frame[3].find("█  0.125 … 0.600"), std::string::npos) << frame[3];
  EXPECT_EQ(frame[4], "actors 7: ready 1  busy 2  waiting_for_weights 1  draining 1  stalled 1  "
                      "dead 1");
  EXPECT_EQ(frame[5].rfind(" ROLE▲", 0), 0u) << frame[5];
  EXPECT_EQ(frame[6].rfind(">learner  learner-0", 0), 0u) << frame[6];
  EXPECT_EQ(frame.back().rfind("q quit", 0), 0u);
  EXPECT_NE(frame.back().find("1-7 of 7"), std::string::npos) << frame.back();
  // Columns: state abbreviated, queue totals, rates, ages.
  auto rows = joined(frame);
  EXPECT_NE(rows.find("wait_wts"), std::string::npos);
  EXPECT_NE(rows.find("16/16"), std::string::npos);
  EXPECT_NE(rows.find("18.3k"), std::string::npos);
  EXPECT_NE(rows.find("95s"), std::string::npos); // sampler-3's heartbeat age
}

TEST(TopView, NoCauseNoCauseLine) {
  auto m = loaded();
  m.run.cause.reset();
  auto frame = render_top(m, view_options{}, 120, 30);
  EXPECT_EQ(joined(frame).find("!!"), std::string::npos);
  EXPECT_EQ(frame[2].rfind("reward ", 0), 0u);
}

TEST(TopView, SortsByAnyColumnTiesByNameAndReverses) {
  auto m = loaded();
  view_options v;
  EXPECT_EQ(names(render_top(m, v, 120, 0)),
            (std::vector<std::string>{"learner-0", "reward-0", "reward-1", "sampler-0",
                                      "sampler-1", "sampler-2", "sampler-3"}));
  v.sort = top_column::tokens_per_s;
  v.descending = true;
  EXPECT_EQ(names(render_top(m, v, 120, 0)),
            (std::vector<std::string>{"learner-0", "sampler-0", "sampler-2", "reward-0",
                                      "reward-1", "sampler-1", "sampler-3"}));
  v.sort = top_column::heartbeat;
  v.descending = false;
  auto by_age = names(render_top(m, v, 120, 0));
  EXPECT_EQ(by_age.front(), "learner-0");
  EXPECT_EQ(by_age.back(), "sampler-3");
  EXPECT_NE(joined(render_top(m, v, 120, 0)).find("HB▲"), std::string::npos);
}

TEST(TopView, FilterMatchesRoleNameNodeOrStateIgnoringCase) {
  auto m = loaded();
  view_options v;
  v.filter = "REWARD";
  EXPECT_EQ(names(render_top(m, v, 120, 0)), (std::vector<std::string>{"reward-0", "reward-1"}));
  v.filter = "gpu-c";
  EXPECT_EQ(names(render_top(m, v, 120, 0)),
            (std::vector<std::string>{"sampler-2", "sampler-3"}));
  v.filter = "stalled";
  EXPECT_EQ(names(render_top(m, v, 120, 0)), (std::vector<std::string>{"sampler-2"}));
  EXPECT_NE(joined(render_top(m, v, 120, 0)).find("filter \"stalled\""), std::string::npos);
}

TEST(TopView, DeadActorsCanBeHidden) {
  auto m = loaded();
  view_options v;
  v.show_dead = false;
  auto shown = names(render_top(m, v, 120, 0));
  EXPECT_EQ(shown.size(), 6u);
  EXPECT_EQ(std::find(shown.begin(), shown.end(), "sampler-3"), shown.end());
  EXPECT_NE(joined(render_top(m, v, 120, 0)).find("dead hidden"), std::string::npos);
}

TEST(TopView, LinesAreCutToTheWidthAndTheFrameToTheHeight) {
  auto m = loaded();
  m.actors[1].name = std::string(80, 'n') + "é";
  for (int width : {20, 60, 80, 200}) {
    auto frame = render_top(m, view_options{}, width, 12);
    ASSERT_EQ(frame.size(), 12u);
    for (auto& l : frame)
      EXPECT_LE(columns(l), static_cast<size_t>(width)) << width << ": " << l;
  }
  auto wide = joined(render_top(m, view_options{}, 200, 0));
  EXPECT_NE(wide.find(std::string(39, 'n') + "…"), std::string::npos); // the name column: 40
  // Colors add escapes only: the text between them is the same frame.
  view_options c;
  c.color = true;
  auto colored = render_top(m, c, 80, 12);
  EXPECT_EQ(colored[2].rfind("\x1b[1;97;41m!! samplers", 0), 0u) << colored[2];
}

TEST(TopView, TheTableScrollsWithTheSelection) {
  auto m = loaded();
  view_options v;
  // 12 lines: 5 above the table, its header and the footer leave 5 rows.
  EXPECT_EQ(table_page(m, v, 12), 5u);
  auto rows = table_rows(m, v).size();
  for (int i = 0; i < 6; ++i)
    handle_key(v, {top_key_kind::down}, rows, 5);
  EXPECT_EQ(v.selected, 6u);
  EXPECT_EQ(v.scroll, 2u);
  auto frame = render_top(m, v, 120, 12);
  EXPECT_EQ(names(frame).front(), "reward-1");
  EXPECT_EQ(frame[10].rfind(">sampler  sampler-3", 0), 0u) << frame[10];
  EXPECT_NE(frame[11].find("3-7 of 7"), std::string::npos) << frame[11];
  handle_key(v, {top_key_kind::page_up}, rows, 5);
  EXPECT_EQ(v.selected, 1u);
  EXPECT_EQ(v.scroll, 1u);
  handle_key(v, {top_key_kind::character, 'G'}, rows, 5);
  EXPECT_EQ(v.selected, 6u);
  handle_key(v, {top_key_kind::home}, rows, 5);
  EXPECT_EQ(v.selected, 0u);
  EXPECT_EQ(v.scroll, 0u);
}

TEST(TopView, SparklineScalesFromMinToMax) {
  EXPECT_EQ(sparkline({0, 1, 2, 3, 4, 5, 6, 7}, 8), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(sparkline({0, 7, 3.5}, 8), "▁█▅");
  EXPECT_EQ(sparkline({2, 2, 2}, 8), "▄▄▄");
  EXPECT_EQ(sparkline({0, std::nan(""), 1}, 8), "▁ █");
  EXPECT_EQ(sparkline({100, 0, 1}, 2), "▁█"); // the last `width` values only
  EXPECT_EQ(sparkline({}, 8), "");
}

TEST(TopView, KeysSortReverseFilterToggleAndQuit) {
  view_options v;
  EXPECT_EQ(handle_key(v, {top_key_kind::character, 's'}, 7, 5), top_action::redraw);
  EXPECT_EQ(v.sort, top_column::name);
  handle_key(v, {top_key_kind::character, 'S'}, 7, 5);
  handle_key(v, {top_key_kind::character, 'S'}, 7, 5);
  EXPECT_EQ(v.sort, top_column::errors); // wraps around
  handle_key(v, {top_key_kind::character, 'r'}, 7, 5);
  EXPECT_TRUE(v.descending);
  handle_key(v, {top_key_kind::character, 'd'}, 7, 5);
  EXPECT_FALSE(v.show_dead);
  for (auto k : decode_keys("/samx\x7fp\r"))
    handle_key(v, k, 7, 5);
  EXPECT_FALSE(v.editing_filter);
  EXPECT_EQ(v.filter, "samp");
  handle_key(v, {top_key_kind::character, '/'}, 7, 5);
  EXPECT_TRUE(v.editing_filter);
  EXPECT_EQ(handle_key(v, {top_key_kind::character, 'q'}, 7, 5), top_action::redraw); // typed
  EXPECT_EQ(v.filter_draft, "sampq");
  handle_key(v, {top_key_kind::escape}, 7, 5);
  EXPECT_FALSE(v.editing_filter);
  EXPECT_EQ(v.filter, "");
  EXPECT_EQ(handle_key(v, {top_key_kind::character, 'x'}, 7, 5), top_action::none);
  EXPECT_EQ(handle_key(v, {top_key_kind::character, 'q'}, 7, 5), top_action::quit);
  EXPECT_EQ(handle_key(v, {top_key_kind::ctrl_c}, 7, 5), top_action::quit);
}

TEST(TopView, DecodesArrowsPagesAndALoneEscape) {
  auto keys = decode_keys("\x1b[A\x1b[B\x1bOA\x1b[5~\x1b[6~\x1b[H\x1b[4~\x1b[1;5C\x1bjq\x03\x1b");
  std::vector<top_key_kind> kinds;
  for (auto& k : keys)
    kinds.push_back(k.kind);
  using K = top_key_kind;
  EXPECT_EQ(kinds, (std::vector<K>{K::up, K::down, K::up, K::page_up, K::page_down, K::home,
                                   K::end, K::escape, K::character, K::character, K::ctrl_c,
                                   K::escape}));
  EXPECT_EQ(keys[8].ch, 'j');
}

} // namespace
} // namespace tandem
