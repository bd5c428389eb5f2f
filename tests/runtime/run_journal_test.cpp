// Tests of the run journal (runtime/run_journal.hpp) and of its audit over
// journals written through it: restarts, duplicates, skipped and lost
// prompts, durability across a process that dies, and bad files.
#include "runtime/run_journal.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/journal_audit.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

using groups = std::vector<journal_group>;

class RunJournal : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("tandem_journal_" + std::to_string(::getpid()) + "_" + info->name());
    tandem::test::remove_tree(dir_);
    fs::create_directories(dir_);
    path_ = journal_path(dir_.string());
  }
  void TearDown() override { tandem::test::remove_tree(dir_); }

  std::unique_ptr<run_journal> open() {
    auto j = run_journal::open(path_);
    EXPECT_TRUE(j) << describe(j.error());
    return j ? std::move(*j) : nullptr;
  }

  audit_report audit() {
    auto r = audit_journal(path_);
    EXPECT_TRUE(r) << describe(r.error());
    return r ? *r : audit_report{};
  }

  // Runs `sql` on the file through a second, raw SQLite connection.
  void raw_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* msg = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg), SQLITE_OK)
      << (msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
  }

  fs::path dir_;
  std::string path_;
};

// Step k issues problem k-1 (group 100 + k-1) and trains it.
void plain_steps(run_journal& j, int64_t from, int64_t to) {
  for (int64_t k = from; k <= to; ++k) {
    journal_group g{uint64_t(100 + k - 1), uint64_t(k - 1)};
    ASSERT_FALSE(j.record_step(k, k, {g}, {g}, {}));
  }
}

TEST_F(RunJournal, FreshRunWithStepsAuditsClean) {
  auto j = open();
  ASSERT_TRUE(j);
  auto n = j->begin_incarnation(0);
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 1);
  ASSERT_FALSE(j->record_step(1, 1, {{0, 0}, {1, 1}, {2, 2}}, {{0, 0}, {1, 1}}, {}));
  ASSERT_FALSE(j->record_step(2, 2, {{3, 3}}, {{2, 2}}, {{3, 3}}));
  ASSERT_FALSE(j->record_finish(true, {{4, 4}}, {}, {{4, 4}}));
  auto r = audit();
  EXPECT_FALSE(r.broken()) << format_audit_text(r);
  EXPECT_TRUE(r.finished);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.incarnations, 1);
  EXPECT_EQ(r.last_step, 2);
  EXPECT_EQ(r.groups_issued, 5u);
  EXPECT_EQ(r.groups_consumed, 3u);
  EXPECT_EQ(r.groups_dropped, 1u);
  EXPECT_EQ(r.groups_outstanding, 1u);
  EXPECT_EQ(r.regenerated, 0u);
  EXPECT_EQ(r.schema_version, journal_schema_version);
}

TEST_F(RunJournal, HeadRestartVoidsTheLostStepsAndTheRetrainedOnesAreNoDuplicates) {
  {
    auto j = open();
    ASSERT_TRUE(j->begin_incarnation(0));
    plain_steps(*j, 1, 57);
    // In flight when the head dies: issued at step 58's record, never trained.
    ASSERT_FALSE(j->record_step(58, 58, {{500, 57}, {501, 58}}, {}, {}));
  } // the head dies after step 58; its last checkpoint is step 50
  auto j = open();
  auto n = j->begin_incarnation(50);
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(j->last_step(), 50);
  auto resume = j->resume_point();
  ASSERT_TRUE(resume) << describe(resume.error());
  EXPECT_EQ(resume->next_group_id, 502u);
  EXPECT_EQ(resume->next_problem_id, 59u);
  std::vector<uint64_t> want; // trained by the voided steps 51..58, or in flight
  for (uint64_t p = 50; p <= 58; ++p)
    want.push_back(p);
  EXPECT_EQ(resume->unsettled_problems, want);
  // Issued again under new group ids, trained by the new steps 51..59.
  for (int64_t k = 51; k <= 59; ++k) {
    journal_group g{uint64_t(1000 + k), uint64_t(k - 1)};
    ASSERT_FALSE(j->record_step(k, k, {g}, {g}, {}));
  }
  ASSERT_FALSE(j->record_finish(true, {}, {}, {}));
  auto r = audit();
  EXPECT_FALSE(r.broken()) << format_audit_text(r);
  EXPECT_EQ(r.incarnations, 2);
  EXPECT_EQ(r.last_step, 59);
  EXPECT_EQ(r.steps_lost, 8u);     // 51..58
  EXPECT_EQ(r.groups_voided, 7u);  // trained by 51..57
  EXPECT_EQ(r.groups_consumed, 59u);
  EXPECT_EQ(r.regenerated, 9u);    // problems 50..58 issued twice
  EXPECT_EQ(r.duplicated_problems.count, 0u);
}

TEST_F(RunJournal, AResumeFromAStepTheJournalLacksIsRefused) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  plain_steps(*j, 1, 5);
  auto n = open()->begin_incarnation(6);
  ASSERT_FALSE(n);
  EXPECT_TRUE(is(n.error(), errc::invalid_argument));
  EXPECT_NE(describe(n.error()).find("last step journaled is 5"), std::string::npos)
    << describe(n.error());
}

TEST_F(RunJournal, TheSameProblemTrainedTwiceIsADuplicate) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  ASSERT_FALSE(j->record_step(1, 1, {{0, 0}, {1, 7}}, {{0, 0}}, {}));
  ASSERT_FALSE(j->record_step(2, 2, {{2, 1}, {3, 0}}, {{2, 1}, {3, 0}}, {}));
  auto r = audit();
  EXPECT_TRUE(r.broken());
  EXPECT_EQ(r.duplicated_problems.count, 1u);
  EXPECT_EQ(r.duplicated_problems.first, std::vector<uint64_t>{0});
  EXPECT_NE(format_audit_text(r).find("duplicated prompts:   1: 0"), std::string::npos)
    << format_audit_text(r);
}

TEST_F(RunJournal, AProblemIdNeverIssuedIsASkippedPrompt) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  ASSERT_FALSE(j->record_step(1, 1, {{0, 0}, {1, 1}, {2, 3}}, {{0, 0}, {1, 1}, {2, 3}}, {}));
  auto r = audit();
  EXPECT_TRUE(r.broken());
  EXPECT_EQ(r.skipped_problems.count, 1u);
  EXPECT_EQ(r.skipped_problems.first, std::vector<uint64_t>{2});
}

TEST_F(RunJournal, APromptNeitherTrainedNorAccountedIsLostOnceTheRunFinished) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  ASSERT_FALSE(j->record_step(1, 1, {{0, 0}, {1, 1}, {2, 2}}, {{0, 0}, {1, 1}}, {}));
  auto before = audit();
  EXPECT_FALSE(before.broken()) << "in progress: group 2 may still be trained";
  EXPECT_FALSE(before.finished);
  EXPECT_EQ(before.unsettled, 1u);
  ASSERT_FALSE(j->record_finish(false, {}, {}, {}));
  auto r = audit();
  EXPECT_TRUE(r.broken());
  EXPECT_TRUE(r.finished);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.lost_problems.count, 1u);
  EXPECT_EQ(r.lost_problems.first, std::vector<uint64_t>{2});
}

TEST_F(RunJournal, OutstandingAtFinishIsNotLost) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  ASSERT_FALSE(j->record_step(1, 1, {{0, 0}, {1, 1}}, {{0, 0}}, {}));
  ASSERT_FALSE(j->record_finish(true, {{2, 2}}, {}, {{1, 1}, {2, 2}}));
  auto r = audit();
  EXPECT_FALSE(r.broken()) << format_audit_text(r);
  EXPECT_EQ(r.groups_outstanding, 2u);
  EXPECT_EQ(r.lost_problems.count, 0u);
}

TEST_F(RunJournal, OutstandingOfAnEarlierFinishMustBeIssuedAgain) {
  {
    auto j = open();
    ASSERT_TRUE(j->begin_incarnation(0));
    plain_steps(*j, 1, 2);
    ASSERT_FALSE(j->record_finish(false, {{7, 2}}, {}, {{7, 2}}));
  }
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(2));
  ASSERT_FALSE(j->record_finish(true, {}, {}, {}));
  auto r = audit();
  EXPECT_EQ(r.lost_problems.first, std::vector<uint64_t>{2}) << format_audit_text(r);
}

TEST_F(RunJournal, StepsSurviveAProcessThatDiesWithoutClosingTheJournal) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto j = run_journal::open(path_);
    if (!j || !(*j)->begin_incarnation(0))
      ::_exit(3);
    for (int64_t k = 1; k <= 3; ++k) {
      journal_group g{uint64_t(k), uint64_t(k - 1)};
      if ((*j)->record_step(k, k, {g}, {g}, {}))
        ::_exit(4);
    }
    ::_exit(0); // no destructor, no close, no WAL checkpoint: a crash
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto r = audit();
  EXPECT_FALSE(r.finished);
  EXPECT_EQ(r.last_step, 3);
  EXPECT_EQ(r.groups_consumed, 3u);
  auto j = open();
  auto n = j->begin_incarnation(3);
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 2);
}

TEST_F(RunJournal, AJournalClosedWithoutFinishReopensWithItsSteps) {
  {
    auto j = open();
    ASSERT_TRUE(j->begin_incarnation(0));
    plain_steps(*j, 1, 4);
  }
  auto r = audit();
  EXPECT_FALSE(r.finished);
  EXPECT_EQ(r.last_step, 4);
  EXPECT_FALSE(r.broken());
}

TEST_F(RunJournal, TheFileIsInWalModeAndMarkedAsATandemJournal) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto text = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  };
  EXPECT_EQ(text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(text("PRAGMA application_id"), std::to_string(0x544E444A));
  EXPECT_EQ(text("PRAGMA user_version"), std::to_string(journal_schema_version));
  sqlite3_close(db);
}

TEST_F(RunJournal, AFileThatIsNotADatabaseGivesAClearError) {
  std::ofstream(path_) << "these are not the bytes of an SQLite database, not at all\n";
  auto j = run_journal::open(path_);
  ASSERT_FALSE(j);
  EXPECT_TRUE(is(j.error(), errc::io_failure));
  auto text = describe(j.error());
  EXPECT_NE(text.find(path_), std::string::npos) << text;
  EXPECT_NE(text.find("not a database"), std::string::npos) << text;
  auto r = audit_journal(path_);
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("not a database"), std::string::npos)
    << describe(r.error());
}

TEST_F(RunJournal, AnotherApplicationsDatabaseIsRefused) {
  raw_sql("CREATE TABLE notes(text TEXT)");
  auto j = run_journal::open(path_);
  ASSERT_FALSE(j);
  EXPECT_TRUE(is(j.error(), errc::invalid_argument));
  EXPECT_NE(describe(j.error()).find("not a tandem run journal"), std::string::npos)
    << describe(j.error());
}

TEST_F(RunJournal, ANewerSchemaIsRefused) {
  open().reset();
  raw_sql("PRAGMA user_version = 99");
  auto r = audit_journal(path_);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::version_mismatch)) << describe(r.error());
}

TEST_F(RunJournal, AnEmptyFileIsNotAJournalToAudit) {
  std::ofstream{path_};
  auto r = audit_journal(path_);
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("empty database"), std::string::npos)
    << describe(r.error());
}

TEST_F(RunJournal, WritesOutOfOrderAreRefused) {
  auto j = open();
  auto early = j->record_step(1, 1, {}, {}, {});
  EXPECT_TRUE(is(early, errc::not_ready)) << describe(early);
  EXPECT_TRUE(is(j->begin_incarnation(-1).error(), errc::invalid_argument));
  ASSERT_TRUE(j->begin_incarnation(0));
  // A batch of learner.mini_batches optimizer steps advances by that stride.
  ASSERT_FALSE(j->record_step(2, 2, {}, {}, {}));
  auto again = j->record_step(2, 2, {}, {}, {});
  EXPECT_TRUE(is(again, errc::invalid_argument)) << describe(again);
  EXPECT_NE(describe(again).find("expected a later one"), std::string::npos) << describe(again);
  EXPECT_TRUE(is(j->record_step(1, 1, {}, {}, {}), errc::invalid_argument));
  ASSERT_FALSE(j->record_step(4, 4, {}, {}, {}));
  ASSERT_FALSE(j->record_finish(true, {}, {}, {}));
  EXPECT_TRUE(is(j->record_step(6, 6, {}, {}, {}), errc::invalid_argument));
  EXPECT_TRUE(is(j->record_finish(true, {}, {}, {}), errc::invalid_argument));
}

TEST_F(RunJournal, ASupersededHeadCannotRecordAnyMore) {
  auto old_head = open();
  ASSERT_TRUE(old_head->begin_incarnation(0));
  plain_steps(*old_head, 1, 3);
  auto new_head = open();
  ASSERT_TRUE(new_head->begin_incarnation(2));
  auto err = old_head->record_step(4, 4, {}, {}, {});
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_NE(describe(err).find("superseded by incarnation 2"), std::string::npos)
    << describe(err);
  ASSERT_FALSE(new_head->record_step(3, 3, {{9, 2}}, {{9, 2}}, {}));
  EXPECT_FALSE(audit().broken());
}

TEST_F(RunJournal, ABusyDatabaseFailsWithATimeoutAfterItsDeadline) {
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto err = j->record_step(1, 1, {}, {}, {}); // waits out the 5 s busy timeout
  EXPECT_TRUE(is(err, errc::timeout)) << describe(err);
  EXPECT_NE(describe(err).find(path_), std::string::npos) << describe(err);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_FALSE(j->record_step(1, 1, {}, {}, {})) << "the failed step left no trace";
}

TEST_F(RunJournal, IdsAboveTheSignedRangeRoundTrip) {
  const uint64_t big = ~uint64_t{0} - 1;
  auto j = open();
  ASSERT_TRUE(j->begin_incarnation(0));
  ASSERT_FALSE(j->record_step(1, 1, {{big, 0}}, {{big, 0}}, {}));
  auto resume = j->resume_point();
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->next_group_id, big + 1);
  auto records = read_journal(path_);
  ASSERT_TRUE(records);
  EXPECT_EQ(records->issued.at(0).group.group_id, big);
}

} // namespace

// learner.mini_batches > 1: each batch advances the version by that many
// optimizer steps; the audit checks the stride instead of every integer.
TEST_F(RunJournal, AuditFollowsTheStepStrideOfMiniBatches) {
  {
    auto j = open();
    ASSERT_TRUE(j->begin_incarnation(0));
    ASSERT_FALSE(j->record_step(4, 4, {{1, 0}}, {{1, 0}}, {}));
    ASSERT_FALSE(j->record_step(8, 8, {{2, 1}}, {{2, 1}}, {}));
    ASSERT_FALSE(j->record_step(16, 16, {{3, 2}}, {{3, 2}}, {}));
    ASSERT_FALSE(j->record_finish(true, {}, {}, {}));
  }
  auto r = audit_journal(path_);
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->last_step, 16);
  EXPECT_EQ(r->missing_steps.count, 1u);
  ASSERT_EQ(r->missing_steps.first.size(), 1u);
  EXPECT_EQ(r->missing_steps.first[0], 12u);
  EXPECT_EQ(r->repeated_steps.count, 0u);
}
