// `tandem audit RUN_DIR` through the real binary: exit 0 on a clean journal,
// 1 on a broken guarantee (offending ids printed), 2 when RUN_DIR is not a run.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/run_journal.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

struct outcome {
  int code = -1;
  std::string out; // stdout and stderr
};

// Runs `tandem audit ARGS` and waits for it (popen: the binary ends on its
// own; a hang would be ended by the ctest timeout).
outcome audit(const std::string& args) {
  outcome o;
  auto cmd = std::string{TANDEM_BINARY} + " audit " + args + " 2>&1";
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

class AuditCommand : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("tandem_audit_" + std::to_string(::getpid()) + "_" + info->name());
    tandem::test::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { tandem::test::remove_tree(dir_); }

  // Step 1 trains problem 0; step 2 trains `second` (0 again: a duplicate).
  void write_run(uint64_t second) {
    auto j = run_journal::open(journal_path(dir_.string()));
    ASSERT_TRUE(j) << describe(j.error());
    ASSERT_TRUE((*j)->begin_incarnation(0));
    ASSERT_FALSE((*j)->record_step(1, 1, {{0, 0}, {1, 1}}, {{0, 0}}, {}));
    ASSERT_FALSE((*j)->record_step(2, 2, {{2, second}}, {{2, second}}, {}));
    ASSERT_FALSE((*j)->record_finish(true, {}, {}, {{1, 1}}));
  }

  fs::path dir_;
};

TEST_F(AuditCommand, ACleanRunExitsZero) {
  write_run(2);
  auto o = audit(dir_.string());
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_NE(o.out.find("every guarantee holds"), std::string::npos) << o.out;
  auto j = audit(dir_.string() + " --json");
  EXPECT_EQ(j.code, 0) << j.out;
  EXPECT_NE(j.out.find("\"broken\":false"), std::string::npos) << j.out;
}

TEST_F(AuditCommand, ADuplicateExitsOneAndNamesTheProblem) {
  write_run(0);
  auto o = audit(dir_.string());
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_NE(o.out.find("duplicated prompts:   1: 0"), std::string::npos) << o.out;
}

TEST_F(AuditCommand, NotARunExitsTwoAndSaysWhy) {
  auto missing = audit((dir_ / "nope").string());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("no such directory"), std::string::npos) << missing.out;
  auto empty = audit(dir_.string());
  EXPECT_EQ(empty.code, 2);
  EXPECT_NE(empty.out.find("no journal.db"), std::string::npos) << empty.out;
  std::ofstream(journal_path(dir_.string())) << "garbage, not a database at all......\n";
  auto corrupt = audit(dir_.string());
  EXPECT_EQ(corrupt.code, 2);
  EXPECT_NE(corrupt.out.find("not a database"), std::string::npos) << corrupt.out;
  EXPECT_EQ(audit("").code, 2) << "RUN_DIR is required";
}

} // namespace
