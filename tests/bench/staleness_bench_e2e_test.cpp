// staleness_bench_e2e_test: `tandem bench staleness` through the real
// binary on configs/basic cut to 3 steps: it runs one child `tandem run` per
// cell, fills the table and the JSON report, counts a run past its deadline
// as timed out, and refuses bad flags before starting anything.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

const std::string config = std::string{TANDEM_SOURCE_DIR} + "/configs/basic/run.yaml";

struct outcome {
  int code = -1;
  std::string out;
};

// Runs `tandem bench staleness ARGS` (popen: the bench ends on its own, every
// child has a deadline; a hang would be ended by the ctest timeout).
outcome bench(const std::string& args) {
  outcome o;
  auto cmd = std::string{TANDEM_BINARY} + " bench staleness " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    o.out.append(buf, n);
  int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

struct scratch {
  fs::path dir = fs::temp_directory_path()
                 / ("staleness_e2e_" + std::to_string(::getpid()) + "_"
                    + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  scratch() { tandem::test::remove_tree(dir); }
  ~scratch() { tandem::test::remove_tree(dir); }
  std::string out() const { return (dir / "runs").string(); }
  std::string json() const { return (dir / "report.json").string(); }
};

json_value read_report(const std::string& path) {
  auto doc = read_json_file(path);
  EXPECT_TRUE(doc) << describe(doc.error());
  return doc ? *doc : json_value{};
}

TEST(StalenessBenchE2E, RunsOneChildPerCellAndFillsTheTable) {
  scratch s;
  auto o = bench(config + " --eta 0,1 --seeds 1 --steps 3 --out " + s.out() + " --json "
                 + s.json());
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_NE(o.out.find("0    decoupled  0/1"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("1    coupled    0/1"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("decoupled, η=1 vs η=0: final reward ratio"), std::string::npos) << o.out;
  auto doc = read_report(s.json());
  auto* cells = doc.find("cells") ? doc.find("cells")->as_array() : nullptr;
  ASSERT_TRUE(cells);
  ASSERT_EQ(cells->size(), 4u);
  for (auto& c : *cells) {
    auto name = *c.find("name")->as_string();
    EXPECT_EQ(*c.find("state")->as_string(), "ok") << name;
    EXPECT_EQ(*c.find("steps")->as_integer(), 3) << name; // read from its metrics.jsonl
    EXPECT_TRUE(fs::is_regular_file(fs::path(s.out()) / name / "metrics.jsonl")) << name;
  }
  EXPECT_EQ(doc.find("rows")->as_array()->size(), 4u);
  // The coupled cells' configs went through the checks (behav_weight_cap removed).
  std::ifstream cfg(fs::path(s.out()) / "eta1-coupled-seed1" / "config.yaml");
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("decoupled: false"), std::string::npos);
  EXPECT_NE(text.find("max_staleness: 1"), std::string::npos);
}

TEST(StalenessBenchE2E, ARunPastItsDeadlineIsStoppedAndCountedAsTimedOut) {
  scratch s;
  auto o = bench(config + " --eta 0 --seeds 1 --steps 3000 --run-timeout 1 --out " + s.out()
                 + " --json " + s.json());
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_NE(o.out.find("seed 1: timed out"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("claim check: needs at least two eta values"), std::string::npos)
    << o.out;
  auto doc = read_report(s.json());
  for (auto& c : *doc.find("cells")->as_array())
    EXPECT_EQ(*c.find("state")->as_string(), "timed_out");
}

TEST(StalenessBenchE2E, BadFlagsExitTwoBeforeAnyRun) {
  scratch s;
  for (const char* bad : {" --eta 0,,1", " --eta 65", " --eta 1,1", " --seeds 0", " --bogus",
                          " --parallel x", " --target 2"}) {
    auto o = bench(config + bad + " --out " + s.out());
    EXPECT_EQ(o.code, 2) << bad << "\n" << o.out;
  }
  EXPECT_FALSE(fs::exists(s.out()) && !fs::is_empty(s.out()));
}

} // namespace
