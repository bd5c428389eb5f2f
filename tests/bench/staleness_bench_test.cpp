// staleness_bench_test: the pure parts of `tandem bench staleness`
// (bench/staleness_cells.hpp, bench/staleness_figures.hpp) on synthetic
// metrics.jsonl text, and its child pool (bench/child_pool.hpp) against a
// fake launcher with explicit time.
#include <gtest/gtest.h>

#include <map>

#include <yaml-cpp/yaml.h>

#include "bench/child_pool.hpp"
#include "bench/staleness_cells.hpp"
#include "bench/staleness_figures.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {
namespace {

// --- metrics.jsonl -----------------------------------------------------------

std::string record(int64_t step, double reward, double elapsed, double staleness = 0.5) {
  return "{\"step\":" + std::to_string(step) + ",\"version\":" + std::to_string(step)
         + ",\"elapsed_s\":" + std::to_string(elapsed) + ",\"reward_mean\":"
         + std::to_string(reward) + ",\"staleness_mean\":" + std::to_string(staleness)
         + ",\"loss\":0.1}\n";
}

// Steps 1..rewards.size(), one second apart.
std::string curve(const std::vector<double>& rewards) {
  std::string text;
  for (size_t i = 0; i < rewards.size(); ++i)
    text += record(static_cast<int64_t>(i) + 1, rewards[i], static_cast<double>(i + 1));
  return text;
}

std::vector<step_point> parsed(const std::string& text) {
  auto steps = parse_step_records(text, "m.jsonl");
  EXPECT_TRUE(steps) << describe(steps.error());
  return steps ? *steps : std::vector<step_point>{};
}

TEST(StalenessMetrics, StepRecordsAreReadInOrder) {
  auto steps = parsed(record(1, 0.25, 1.5, 0) + record(2, 0.5, 3.0, 1));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[1].step, 2);
  EXPECT_DOUBLE_EQ(steps[1].reward, 0.5);
  EXPECT_DOUBLE_EQ(steps[1].elapsed, 3.0);
  EXPECT_DOUBLE_EQ(steps[1].staleness, 1.0);
}

TEST(StalenessMetrics, ATornLastLineOfAKilledRunIsLeftOut) {
  auto text = record(1, 0.25, 1) + record(2, 0.5, 2) + "{\"step\":3,\"reward_m";
  EXPECT_EQ(parsed(text).size(), 2u);
}

TEST(StalenessMetrics, ABadLineInsideTheFileIsAnErrorNamingIt) {
  auto text = record(1, 0.25, 1) + "{\"step\":2}\n" + record(3, 0.5, 3);
  auto steps = parse_step_records(text, "m.jsonl");
  ASSERT_FALSE(steps);
  EXPECT_NE(describe(steps.error()).find("m.jsonl:2:"), std::string::npos)
    << describe(steps.error());
}

TEST(StalenessMetrics, StepsRecordedAgainAfterARestartReplaceTheOldOnes) {
  auto text = record(1, 0.1, 1) + record(2, 0.2, 2) + record(3, 0.3, 3) + record(2, 0.9, 4)
              + record(3, 0.8, 5);
  auto steps = parsed(text);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_DOUBLE_EQ(steps[1].reward, 0.9);
  EXPECT_DOUBLE_EQ(steps[2].elapsed, 5);
}

// --- per-run figures ----------------------------------------------------------

TEST(StalenessFigures, TheTargetIsTheFirstStepWhoseTenStepMeanReachesIt) {
  // Rewards 0.1, 0.2, ..., 1.5: the mean of steps k-9..k is (k - 4.5) / 10,
  // >= 0.6 first at k = 11 (step 11, elapsed 11 s).
  std::vector<double> r;
  for (int i = 1; i <= 15; ++i)
    r.push_back(0.1 * i);
  auto f = figures_of(parsed(curve(r)), 0.6);
  ASSERT_TRUE(f.steps_to_target);
  EXPECT_EQ(*f.steps_to_target, 11);
  EXPECT_DOUBLE_EQ(*f.wall_to_target, 11);
  EXPECT_EQ(f.steps, 15);
  EXPECT_NEAR(f.final_reward, 1.05, 1e-9); // mean of 0.6..1.5
  EXPECT_NEAR(f.staleness, 0.5, 1e-9);
}

TEST(StalenessFigures, NoTargetBeforeTenStepsExistEvenAtFullReward) {
  auto f = figures_of(parsed(curve({1, 1, 1, 1, 1, 1, 1, 1, 1})), 0.5);
  EXPECT_FALSE(f.steps_to_target);
  EXPECT_FALSE(f.wall_to_target);
  EXPECT_DOUBLE_EQ(f.final_reward, 1); // the mean of all steps when fewer than 10
}

TEST(StalenessFigures, ARunThatNeverGetsThereHasNoStepsToTarget) {
  auto f = figures_of(parsed(curve(std::vector<double>(30, 0.4))), 0.95);
  EXPECT_FALSE(f.steps_to_target);
  EXPECT_NEAR(f.final_reward, 0.4, 1e-9);
}

TEST(StalenessFigures, AnEmptyFileGivesZeroSteps) {
  auto f = figures_of({}, 0.5);
  EXPECT_EQ(f.steps, 0);
  EXPECT_FALSE(f.steps_to_target);
}

// --- rows, table, claim ---------------------------------------------------------

cell_outcome ok_cell(int32_t eta, bool decoupled, uint64_t seed, std::optional<int64_t> steps,
                     double wall, double reward) {
  cell_outcome c;
  c.cell = {eta, decoupled, seed};
  c.figures.steps = steps.value_or(100);
  c.figures.steps_to_target = steps;
  if (steps)
    c.figures.wall_to_target = wall;
  c.figures.final_reward = reward;
  c.figures.staleness = eta * 0.5;
  return c;
}

std::vector<cell_outcome> two_eta_cells() {
  std::vector<cell_outcome> cells;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    double k = static_cast<double>(seed);
    cells.push_back(ok_cell(0, true, seed, 100 + seed, 100 + k, 0.95 + 0.001 * k));
    cells.push_back(ok_cell(0, false, seed, 100 + seed, 100 + k, 0.95));
    cells.push_back(ok_cell(8, true, seed, 120 + seed, 70 + k, 0.94 + 0.001 * k));
    cells.push_back(ok_cell(8, false, seed, std::nullopt, 0, 0.6));
  }
  return cells;
}

TEST(StalenessRows, RowsAreEtaAscendingDecoupledFirstWithMedianAndRange) {
  auto rows = summarize_cells(two_eta_cells());
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].eta, 0);
  EXPECT_TRUE(rows[0].decoupled);
  EXPECT_FALSE(rows[1].decoupled);
  EXPECT_EQ(rows[2].eta, 8);
  EXPECT_EQ(rows[2].reached, 3u);
  EXPECT_DOUBLE_EQ(rows[2].steps_to_target.median, 122);
  EXPECT_DOUBLE_EQ(rows[2].steps_to_target.min, 121);
  EXPECT_DOUBLE_EQ(rows[2].wall_to_target.max, 73);
  EXPECT_EQ(rows[3].reached, 0u);
  EXPECT_EQ(rows[3].steps_to_target.count, 0u);
  EXPECT_EQ(rows[3].completed, 3u);
}

TEST(StalenessRows, FailedAndTimedOutRunsAreNamedAndNotAveraged) {
  auto cells = two_eta_cells();
  cells[0].how = cell_outcome::state::failed;
  cells[0].exit_code = 3;
  cells[4].how = cell_outcome::state::timed_out;
  auto rows = summarize_cells(cells);
  EXPECT_EQ(rows[0].completed, 1u);
  EXPECT_EQ(rows[0].reached, 1u);
  EXPECT_EQ(rows[0].seeds, 3u);
  ASSERT_EQ(rows[0].failures.size(), 2u);
  EXPECT_EQ(rows[0].failures[0], "seed 1: exit 3");
  EXPECT_EQ(rows[0].failures[1], "seed 2: timed out");
  auto table = format_table(rows);
  EXPECT_NE(table.find("seed 1: exit 3; seed 2: timed out"), std::string::npos) << table;
  EXPECT_NE(table.find("1/3"), std::string::npos) << table;
}

TEST(StalenessTable, OneLinePerRowWithDashesForATargetNeverReached) {
  auto table = format_table(summarize_cells(two_eta_cells()));
  std::vector<std::string> lines;
  std::istringstream in{table};
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);
  ASSERT_EQ(lines.size(), 5u) << table;
  EXPECT_EQ(lines[0].rfind("eta", 0), 0u);
  EXPECT_NE(lines[1].find("decoupled"), std::string::npos);
  EXPECT_NE(lines[1].find("102 [101..103]"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("102.0 [101.0..103.0]"), std::string::npos) << lines[1];
  EXPECT_NE(lines[4].find("coupled"), std::string::npos);
  EXPECT_NE(lines[4].find("0/3"), std::string::npos);
  EXPECT_NE(lines[4].find("—"), std::string::npos) << lines[4];
  EXPECT_NE(lines[4].find("0.600 [0.600..0.600]"), std::string::npos) << lines[4];
}

TEST(StalenessClaim, ComparesTheDecoupledRowsOfTheLargestAndSmallestEta) {
  auto claim = check_claim(summarize_cells(two_eta_cells()));
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->eta_high, 8);
  EXPECT_EQ(claim->eta_low, 0);
  ASSERT_TRUE(claim->reward_ratio);
  EXPECT_NEAR(*claim->reward_ratio, 0.942 / 0.952, 1e-12);
  EXPECT_TRUE(claim->within_2_percent);
  ASSERT_TRUE(claim->wall_ratio);
  EXPECT_NEAR(*claim->wall_ratio, 72.0 / 102.0, 1e-12);
  EXPECT_TRUE(claim->less_wall);
  EXPECT_EQ(format_claim(*claim), "decoupled, η=8 vs η=0: final reward ratio 0.989 (within "
                                  "2 %: yes), wall time ratio 0.706 (less: yes)\n");
}

TEST(StalenessClaim, ARewardMoreThanTwoPercentLowerRefutesIt) {
  auto cells = two_eta_cells();
  for (auto& c : cells)
    if (c.cell.eta == 8 && c.cell.decoupled)
      c.figures.final_reward = 0.9;
  auto claim = check_claim(summarize_cells(cells));
  ASSERT_TRUE(claim);
  EXPECT_FALSE(claim->within_2_percent);
  EXPECT_NE(format_claim(*claim).find("(within 2 %: no)"), std::string::npos);
}

TEST(StalenessClaim, NoWallRatioUnlessEverySeedOfBothRowsReachedTheTarget) {
  auto cells = two_eta_cells();
  cells[2].figures.steps_to_target.reset(); // eta 8, decoupled, seed 1
  cells[2].figures.wall_to_target.reset();
  auto claim = check_claim(summarize_cells(cells));
  ASSERT_TRUE(claim);
  EXPECT_FALSE(claim->wall_ratio);
  EXPECT_FALSE(claim->less_wall);
  auto text = format_claim(*claim);
  EXPECT_NE(text.find("wall time ratio — (less: no)"), std::string::npos) << text;
  EXPECT_NE(text.find("eta=8 reached it in 2/3"), std::string::npos) << text;
}

TEST(StalenessClaim, NeedsTwoEtaValues) {
  std::vector<cell_outcome> cells{ok_cell(1, true, 1, 10, 1, 0.9)};
  EXPECT_FALSE(check_claim(summarize_cells(cells)));
}

TEST(StalenessJson, TheReportParsesAndHoldsRowsCellsAndClaim) {
  auto cells = two_eta_cells();
  cells[1].how = cell_outcome::state::timed_out;
  auto rows = summarize_cells(cells);
  staleness_setup s{"c.yaml", "/tmp/x", 0.95, 3000, 3, 2, 16, {0, 8}, "pinned", 900};
  auto text = report_json(s, rows, cells, check_claim(rows));
  auto doc = parse_json(text);
  ASSERT_TRUE(doc) << describe(doc.error()) << "\n" << text;
  ASSERT_EQ(doc->find("rows")->as_array()->size(), 4u);
  ASSERT_EQ(doc->find("cells")->as_array()->size(), 12u);
  auto& row3 = doc->find("rows")->as_array()->at(3);
  EXPECT_TRUE(row3.find("steps_to_target")->is_null());
  auto& cell1 = doc->find("cells")->as_array()->at(1);
  EXPECT_EQ(*cell1.find("state")->as_string(), "timed_out");
  EXPECT_EQ(*cell1.find("name")->as_string(), "eta0-coupled-seed1");
  EXPECT_TRUE(*doc->find("claim")->find("less_wall_time")->as_bool());
}

// --- cells ----------------------------------------------------------------------

TEST(StalenessCells, ModesInterleaveSeedBySeedReversedEverySecondSeed) {
  auto cells = cell_order({0, 4}, 3);
  ASSERT_EQ(cells.size(), 12u);
  std::vector<std::string> names;
  for (auto& c : cells)
    names.push_back(cell_name(c));
  std::vector<std::string> expected{
    "eta0-decoupled-seed1", "eta0-coupled-seed1", "eta4-decoupled-seed1", "eta4-coupled-seed1",
    "eta4-coupled-seed2", "eta4-decoupled-seed2", "eta0-coupled-seed2", "eta0-decoupled-seed2",
    "eta0-decoupled-seed3", "eta0-coupled-seed3", "eta4-decoupled-seed3", "eta4-coupled-seed3"};
  EXPECT_EQ(names, expected);
}

TEST(StalenessCells, EtaListsAreStrict) {
  auto good = parse_eta_list("8,0,2");
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, (std::vector<int32_t>{0, 2, 8}));
  for (const char* bad : {"", ",", "1,", ",1", "1,,2", "1;2", "a", "1.5", "-1", "65", "2,2",
                          " 1", "1 "})
    EXPECT_FALSE(parse_eta_list(bad)) << "'" << bad << "'";
}

TEST(StalenessCells, TheConfigIsRewrittenForTheCell) {
  const std::string yaml = "run:\n  steps: 5\n  max_staleness: 1\n  seed: 1\n"
                           "learner:\n  lr: 0.001\n  behav_weight_cap: 5\n";
  auto on = cell_config_yaml(yaml, {4, true, 2});
  ASSERT_TRUE(on) << describe(on.error());
  auto a = YAML::Load(*on);
  EXPECT_EQ(a["run"]["max_staleness"].as<int>(), 4);
  EXPECT_EQ(a["run"]["seed"].as<int>(), 2);
  EXPECT_EQ(a["run"]["steps"].as<int>(), 5);
  EXPECT_EQ(a["task"]["seed"].as<int>(), 1002);
  EXPECT_TRUE(a["learner"]["decoupled"].as<bool>());
  EXPECT_EQ(a["learner"]["behav_weight_cap"].as<int>(), 5);
  auto off = cell_config_yaml(yaml, {0, false, 3});
  ASSERT_TRUE(off);
  auto b = YAML::Load(*off);
  EXPECT_FALSE(b["learner"]["decoupled"].as<bool>());
  EXPECT_FALSE(b["learner"]["behav_weight_cap"]); // no effect when coupled: refused
  EXPECT_DOUBLE_EQ(b["learner"]["lr"].as<double>(), 0.001);
  EXPECT_FALSE(cell_config_yaml("- a list", {0, true, 1}));
}

TEST(StalenessCells, TheChildWritesItsLogAndIsPinnedOnlyWhenGivenCpus) {
  auto plain = child_argv("/bin/tandem", "c.yaml", "c.log", "", "/usr/bin/taskset");
  EXPECT_EQ(plain, (std::vector<std::string>{"/bin/sh", "-c", "exec \"$@\" >\"$0\" 2>&1",
                                             "c.log", "/bin/tandem", "run", "c.yaml", "--quiet",
                                             "--overwrite"}));
  auto pinned = child_argv("/bin/tandem", "c.yaml", "c.log", "4,5", "/usr/bin/taskset");
  EXPECT_EQ(std::vector<std::string>(pinned.begin() + 4, pinned.begin() + 8),
            (std::vector<std::string>{"/usr/bin/taskset", "-c", "4,5", "/bin/tandem"}));
}

TEST(StalenessCells, SlotsGetEqualDisjointSharesOfTheAllowedCpus) {
  std::vector<int32_t> cpus{0, 1, 2, 3, 8, 9, 10};
  EXPECT_EQ(slot_cpus(0, 3, cpus), "0,1");
  EXPECT_EQ(slot_cpus(1, 3, cpus), "2,3");
  EXPECT_EQ(slot_cpus(2, 3, cpus), "8,9");
  EXPECT_EQ(slot_cpus(0, 8, cpus), ""); // more slots than CPUs: unpinned
  EXPECT_EQ(slot_cpus(3, 3, cpus), "");
}

// --- child pool -------------------------------------------------------------------

struct fake_child : child_process {
  fake_child(int pid, int* stops) : pid_(pid), stops_(stops) {}
  int pid() const override { return pid_; }
  bool running() override { return code_ < 0; }
  int exit_code() const override { return code_; }
  void stop(std::chrono::milliseconds) override {
    ++*stops_;
    if (code_ < 0)
      code_ = 128 + 15;
  }
  int pid_;
  int* stops_; // the launcher's count, outlives the child
  int code_ = -1;
};

struct fake_launcher : process_launcher {
  caf::expected<std::unique_ptr<child_process>>
  launch(const std::vector<std::string>& argv) override {
    launched.push_back(argv);
    if (argv.at(0) == "broken")
      return make_error(errc::process_failure, "cannot start broken");
    auto c = std::make_unique<fake_child>(static_cast<int>(launched.size()), &stops);
    children.push_back(c.get());
    return std::unique_ptr<child_process>(std::move(c));
  }
  std::vector<std::vector<std::string>> launched;
  std::vector<fake_child*> children; // owned by the pool
  int stops = 0;
};

using namespace std::chrono_literals;

TEST(ChildPool, RunsAtMostParallelJobsEachInAFreeSlot) {
  fake_launcher l;
  auto argv = [](size_t job, int32_t slot) {
    return std::vector<std::string>{"job" + std::to_string(job), std::to_string(slot)};
  };
  child_pool pool(l, 3, 2, 100s, 1s, argv);
  auto t0 = child_pool::clock::time_point{};
  EXPECT_TRUE(pool.poll(t0).empty());
  ASSERT_EQ(l.launched.size(), 2u);
  EXPECT_EQ(l.launched[1], (std::vector<std::string>{"job1", "1"}));
  l.children[0]->code_ = 0; // job 0 ends: its slot 0 goes to job 2
  auto ended = pool.poll(t0 + 5s);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].job, 0u);
  EXPECT_EQ(ended[0].exit_code, 0);
  EXPECT_DOUBLE_EQ(ended[0].wall_s, 5);
  ASSERT_EQ(l.launched.size(), 3u);
  EXPECT_EQ(l.launched[2], (std::vector<std::string>{"job2", "0"}));
  l.children[1]->code_ = 1;
  l.children[2]->code_ = 0;
  ended = pool.poll(t0 + 6s);
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[0].exit_code, 1);
  EXPECT_TRUE(pool.done());
}

TEST(ChildPool, AJobPastItsDeadlineIsStoppedAndCountedAsTimedOut) {
  fake_launcher l;
  child_pool pool(l, 1, 1, 10s, 1s, [](size_t, int32_t) {
    return std::vector<std::string>{"job"};
  });
  auto t0 = child_pool::clock::time_point{};
  pool.poll(t0);
  EXPECT_TRUE(pool.poll(t0 + 9s).empty());
  auto ended = pool.poll(t0 + 10s);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].how, child_pool::result::end::timed_out);
  // The pool has freed the child once it reaped it: read the launcher's count.
  EXPECT_EQ(l.stops, 1);
  EXPECT_TRUE(pool.done());
}

TEST(ChildPool, AJobThatCannotStartIsReportedAndTheNextOneRuns) {
  fake_launcher l;
  child_pool pool(l, 2, 1, 10s, 1s, [](size_t job, int32_t) {
    return std::vector<std::string>{job == 0 ? "broken" : "fine"};
  });
  auto ended = pool.poll(child_pool::clock::time_point{});
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].how, child_pool::result::end::not_started);
  EXPECT_NE(ended[0].error.find("cannot start broken"), std::string::npos);
  EXPECT_EQ(pool.running(), 1u);
}

TEST(ChildPool, DestroyingThePoolStopsItsChildren) {
  fake_launcher l;
  {
    child_pool pool(l, 1, 1, 10s, 1s, [](size_t, int32_t) {
      return std::vector<std::string>{"job"};
    });
    pool.poll(child_pool::clock::time_point{});
  }
  ASSERT_EQ(l.launched.size(), 1u);
  EXPECT_EQ(l.stops, 1);
}

} // namespace
} // namespace tandem
