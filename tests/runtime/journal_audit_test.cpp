// Tests of the audit rules (runtime/journal_audit.hpp) on records built in
// code: journals that run_journal itself refuses to write (gaps, repeats,
// reused or unknown group ids), and the two output formats.
#include "runtime/journal_audit.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/json_reader.hpp"

using namespace tandem;

namespace {

using records = journal_records;

// One incarnation, steps 1..n live, step k issuing and training problem k-1
// with group k-1.
records clean_run(int64_t n) {
  records r;
  r.path = "run/journal.db";
  r.schema_version = journal_schema_version;
  r.incarnations.push_back({1, 0, false, false});
  for (int64_t k = 1; k <= n; ++k) {
    journal_group g{uint64_t(k - 1), uint64_t(k - 1)};
    r.steps.push_back({1, k, k, 0});
    r.issued.push_back({g, 1, k});
    r.consumed.push_back({{g, 1, k}, true});
  }
  return r;
}

TEST(JournalAudit, AnEmptyJournalBreaksNothing) {
  auto a = audit_records(records{});
  EXPECT_FALSE(a.broken());
  EXPECT_FALSE(a.finished);
  EXPECT_EQ(a.last_step, 0);
}

TEST(JournalAudit, AGapInTheLiveStepsIsAMissingStep) {
  auto r = clean_run(5);
  r.steps.erase(r.steps.begin() + 2); // step 3
  auto a = audit_records(r);
  EXPECT_TRUE(a.broken());
  EXPECT_EQ(a.missing_steps.first, std::vector<uint64_t>{3});
}

TEST(JournalAudit, AStepLiveTwiceIsARepeatedStep) {
  auto r = clean_run(3);
  r.incarnations.push_back({2, 3, false, false});
  r.steps.push_back({2, 3, 3, 0}); // incarnation 2 redid step 3 without voiding it
  auto a = audit_records(r);
  EXPECT_EQ(a.repeated_steps.first, std::vector<uint64_t>{3});
  EXPECT_TRUE(a.broken());
}

TEST(JournalAudit, VoidedConsumptionsAreNotDuplicates) {
  auto r = clean_run(3);
  r.steps[2].voided_by = 2;
  r.consumed[2].live = false;
  r.incarnations.push_back({2, 2, false, false});
  journal_group again{10, 2};
  r.steps.push_back({2, 3, 3, 0});
  r.issued.push_back({again, 2, 3});
  r.consumed.push_back({{again, 2, 3}, true});
  auto a = audit_records(r);
  EXPECT_FALSE(a.broken()) << format_audit_text(a);
  EXPECT_EQ(a.groups_voided, 1u);
  EXPECT_EQ(a.steps_lost, 1u);
  EXPECT_EQ(a.regenerated, 1u);
}

TEST(JournalAudit, AGroupTrainedTwiceAndAReusedGroupIdAreCaught) {
  auto r = clean_run(2);
  r.consumed.push_back({{{1, 1}, 1, 2}, true}); // group 1 again in step 2
  r.issued.push_back({{0, 5}, 1, 2});           // group id 0 issued again
  auto a = audit_records(r);
  EXPECT_EQ(a.duplicated_groups.first, std::vector<uint64_t>{1});
  EXPECT_EQ(a.duplicated_problems.first, std::vector<uint64_t>{1});
  EXPECT_EQ(a.reused_group_ids.first, std::vector<uint64_t>{0});
}

TEST(JournalAudit, AGroupNeverIssuedIsUnmatched) {
  auto r = clean_run(2);
  r.consumed.push_back({{{42, 0}, 1, 2}, true});
  r.dropped.push_back({{1, 9}, 1, 2}); // group 1 was issued for problem 1, not 9
  auto a = audit_records(r);
  EXPECT_EQ(a.unmatched_groups.first, (std::vector<uint64_t>{1, 42}));
}

TEST(JournalAudit, AWildProblemIdIsCountedNotEnumerated) {
  auto r = clean_run(1);
  r.issued.push_back({{1, uint64_t{1} << 62}, 1, 1});
  auto a = audit_records(r);
  EXPECT_EQ(a.skipped_problems.count, (uint64_t{1} << 62) - 1);
  EXPECT_EQ(a.skipped_problems.first.size(), audit_sample_size);
  EXPECT_EQ(a.skipped_problems.first.front(), 1u);
}

TEST(JournalAudit, ListsOnlyTheFirstTenOffendersInTheText) {
  auto r = clean_run(1);
  r.incarnations[0].finished = true;
  for (uint64_t p = 1; p <= 12; ++p)
    r.issued.push_back({{100 + p, p}, 1, 1});
  auto a = audit_records(r);
  EXPECT_EQ(a.lost_problems.count, 12u);
  auto text = format_audit_text(a);
  EXPECT_NE(text.find("lost prompts:         12: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ..."),
            std::string::npos) << text;
  EXPECT_NE(text.find("BROKEN (lost_problems)"), std::string::npos) << text;
}

TEST(JournalAudit, TheJsonLineParsesAndCarriesTheVerdict) {
  auto r = clean_run(3);
  r.incarnations[0].finished = true;
  r.incarnations[0].ok = true;
  auto line = format_audit_json(audit_records(r));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto doc = parse_json(line);
  ASSERT_TRUE(doc) << describe(doc.error());
  EXPECT_EQ(*doc->find("broken")->as_bool(), false);
  EXPECT_EQ(*doc->find("finished")->as_bool(), true);
  EXPECT_EQ(*doc->find("last_step")->as_integer(), 3);
  EXPECT_EQ(*doc->find("groups_consumed")->as_integer(), 3);
  EXPECT_EQ(*doc->find("lost_problems")->find("count")->as_integer(), 0);
  EXPECT_EQ(*doc->find("journal")->as_string(), "run/journal.db");
}

} // namespace

namespace {

// Incarnation 1 issued problems 0..9 and trained 0..5 in steps 1..6 (one
// each), then died; incarnation 2 resumed from step 6 and finished with the
// stream's cursor at `cursor`, having trained nothing more.
records killed_near_the_end(int64_t cursor) {
  auto r = clean_run(6);
  for (uint64_t p = 6; p < 10; ++p)
    r.issued.push_back({{p, p}, 1, 6});
  r.incarnations.push_back({2, 6, true, true, cursor});
  return r;
}

TEST(JournalAudit, ProblemsPastTheFinalCursorWereRolledBackNotLost) {
  // The restore put the cursor back to 6: problems 6..9 would be drawn next;
  // the run ended first. Nothing was lost.
  auto a = audit_records(killed_near_the_end(6));
  EXPECT_FALSE(a.broken()) << format_audit_text(a);
  EXPECT_EQ(a.rolled_back, 4u);
  EXPECT_EQ(a.lost_problems.count, 0u);
}

TEST(JournalAudit, ProblemsBelowTheFinalCursorThatNobodyTrainedAreLost) {
  // The cursor says 10 were drawn in the lineage: 6..9 were handed out and
  // never trained, dropped or left outstanding.
  auto a = audit_records(killed_near_the_end(10));
  EXPECT_TRUE(a.broken());
  EXPECT_EQ(a.lost_problems.count, 4u);
  EXPECT_EQ(a.rolled_back, 0u);
}

} // namespace
