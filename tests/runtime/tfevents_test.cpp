// Tests of runtime/crc32c, runtime/tfevents and runtime/tensorboard_sink:
// published CRC-32C vectors, event files read back with their CRCs checked,
// damage found with its offset, and metrics records as scalars.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "runtime/crc32c.hpp"
#include "runtime/error.hpp"
#include "runtime/metrics_sink.hpp"
#include "runtime/tensorboard_sink.hpp"
#include "runtime/tfevents.hpp"
#include "tests/runtime/temp_dir.hpp"

namespace tandem {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

json_record metrics_row(int64_t step, double reward) {
  json_record r;
  r.add("step", step).add("reward_mean", reward).add("note", std::string("x"))
    .add_array("staleness_hist", {1, 2}).add("samplers", int64_t{2})
    .add("kl", std::nan(""));
  return r;
}

TEST(Crc32c, MatchesThePublishedVectors) {
  std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, '\0');
  for (int i = 0; i < 32; ++i)
    up[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu); // RFC 3720 B.4
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up.data(), up.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c_extend(crc32c(digits.data(), 4), digits.data() + 4, 5), 0xE3069283u);
}

TEST(Crc32c, MaskIsUndoneByUnmask) {
  for (uint32_t c : {0u, 1u, 0xE3069283u, 0xffffffffu}) {
    EXPECT_EQ(crc32c_unmask(crc32c_mask(c)), c);
    EXPECT_NE(crc32c_mask(c), c);
  }
}

TEST(TfEvents, AWrittenFileReadsBackWithItsStepsTagsAndValues) {
  test::temp_dir dir;
  auto w = tfevents_writer::create(dir / "tb", 1700000000.5);
  ASSERT_TRUE(w) << describe(w.error());
  EXPECT_NE((*w)->path().find("/tb/events.out.tfevents.1700000000."), std::string::npos);
  for (int64_t step = 1; step <= 3; ++step) {
    tf_event e{1700000001.0 + step, step, "", {{"reward_mean", 0.25f * step}, {"kl", -1.5f}}};
    ASSERT_FALSE((*w)->write(e));
  }
  auto events = read_tfevents((*w)->path());
  ASSERT_TRUE(events) << describe(events.error());
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[0].file_version, "brain.Event:2");
  EXPECT_DOUBLE_EQ((*events)[0].wall_time, 1700000000.5);
  for (int64_t step = 1; step <= 3; ++step) {
    auto& e = (*events)[step];
    EXPECT_EQ(e.step, step);
    EXPECT_DOUBLE_EQ(e.wall_time, 1700000001.0 + step);
    ASSERT_EQ(e.scalars.size(), 2u);
    EXPECT_EQ(e.scalars[0].tag, "reward_mean");
    EXPECT_EQ(e.scalars[0].value, 0.25f * step);
    EXPECT_EQ(e.scalars[1].tag, "kl");
    EXPECT_EQ(e.scalars[1].value, -1.5f);
  }
}

TEST(TfEvents, ASecondWriterInTheSameSecondGetsItsOwnFile) {
  test::temp_dir dir;
  auto a = tfevents_writer::create(dir.path(), 1700000000);
  auto b = tfevents_writer::create(dir.path(), 1700000000);
  ASSERT_TRUE(a && b);
  EXPECT_NE((*a)->path(), (*b)->path());
  EXPECT_EQ((*b)->path(), (*a)->path() + ".1");
}

TEST(TfEvents, AFlippedByteIsReportedWithItsRecordsOffset) {
  test::temp_dir dir;
  auto w = tfevents_writer::create(dir.path(), 1700000000);
  ASSERT_TRUE(w);
  ASSERT_FALSE((*w)->write({1700000001, 1, "", {{"reward_mean", 0.5f}}}));
  auto path = (*w)->path();
  auto bytes = read_all(path);
  auto second = frame_tf_record(encode_tf_event({1700000000, 0, "brain.Event:2", {}})).size();
  ASSERT_GT(bytes.size(), second + 20);
  auto flipped = bytes;
  flipped[second + 14] ^= 0x01; // inside the second record's data
  write_all(path, flipped);
  auto r = read_tfevents(path);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message));
  auto msg = describe(r.error());
  EXPECT_NE(msg.find("byte offset " + std::to_string(second)), std::string::npos) << msg;
  EXPECT_NE(msg.find("data CRC mismatch"), std::string::npos) << msg;
  flipped = bytes;
  flipped[second + 2] ^= 0x01; // the second record's length
  write_all(path, flipped);
  r = read_tfevents(path);
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("length CRC mismatch"), std::string::npos);
}

TEST(TfEvents, ATornLastRecordIsReported) {
  test::temp_dir dir;
  auto w = tfevents_writer::create(dir.path(), 1700000000);
  ASSERT_TRUE(w);
  ASSERT_FALSE((*w)->write({1700000001, 1, "", {{"reward_mean", 0.5f}}}));
  auto path = (*w)->path();
  auto bytes = read_all(path);
  auto second = frame_tf_record(encode_tf_event({1700000000, 0, "brain.Event:2", {}})).size();
  for (size_t cut : {bytes.size() - 1, second + 13, second + 5}) {
    write_all(path, bytes.substr(0, cut));
    auto r = read_tfevents(path);
    ASSERT_FALSE(r) << cut;
    auto msg = describe(r.error());
    EXPECT_NE(msg.find("torn record"), std::string::npos) << msg;
    EXPECT_NE(msg.find("byte offset " + std::to_string(second)), std::string::npos) << msg;
  }
}

TEST(TfEvents, AMissingFileIsAnIoFailureNamingIt) {
  auto r = read_tfevents("/nonexistent/events.out.tfevents.1.h");
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::io_failure));
  EXPECT_NE(describe(r.error()).find("/nonexistent/events.out"), std::string::npos);
}

TEST(TfEvents, AnUncreatableDirectoryIsAnIoFailureNamingIt) {
  test::temp_dir dir;
  write_all(dir / "file", "x");
  auto w = tfevents_writer::create(dir / "file/tb", 1700000000);
  ASSERT_FALSE(w);
  EXPECT_TRUE(is(w.error(), errc::io_failure));
  EXPECT_NE(describe(w.error()).find(dir / "file/tb"), std::string::npos);
}

TEST(TensorboardSink, NumericFieldsBecomeScalarsAtTheRecordsStep) {
  auto e = to_tf_event(metrics_row(7, 0.8125), 5.0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->step, 7);
  EXPECT_EQ(e->wall_time, 5.0);
  ASSERT_EQ(e->scalars.size(), 2u); // no step, string, array or null (NaN)
  EXPECT_EQ(e->scalars[0].tag, "reward_mean");
  EXPECT_EQ(e->scalars[0].value, 0.8125f);
  EXPECT_EQ(e->scalars[1].tag, "samplers");
  EXPECT_EQ(e->scalars[1].value, 2.0f);
  json_record no_step;
  no_step.add("reward_mean", 1.0);
  EXPECT_FALSE(to_tf_event(no_step, 0));
}

TEST(TensorboardSink, ARunsRecordsReadBackAsRewardScalars) {
  test::temp_dir dir;
  double now = 1700000000;
  auto sink = tensorboard_sink::open(dir / "tb", [&] { return now += 1; });
  ASSERT_TRUE(sink) << describe(sink.error());
  for (int64_t step = 1; step <= 5; ++step)
    ASSERT_FALSE((*sink)->write(metrics_row(step, 0.1 * step)));
  auto events = read_tfevents((*sink)->path());
  ASSERT_TRUE(events) << describe(events.error());
  ASSERT_EQ(events->size(), 6u);
  for (int64_t step = 1; step <= 5; ++step) {
    auto& e = (*events)[step];
    EXPECT_EQ(e.step, step);
    EXPECT_EQ(e.wall_time, 1700000001.0 + step);
    ASSERT_FALSE(e.scalars.empty());
    EXPECT_EQ(e.scalars[0].tag, "reward_mean");
    EXPECT_FLOAT_EQ(e.scalars[0].value, static_cast<float>(0.1 * step));
  }
}

/// Fails every write.
class failing_sink : public metrics_sink {
public:
  caf::error write(const json_record&) override {
    ++calls;
    return make_error(errc::io_failure, "disk full");
  }
  int calls = 0;
};

TEST(TeeSink, WritesBothAndReturnsEitherError) {
  auto mem = std::make_shared<memory_sink>();
  auto bad = std::make_shared<failing_sink>();
  tee_sink ok_then_bad(mem, bad);
  EXPECT_TRUE(is(ok_then_bad.write(metrics_row(1, 0.5)), errc::io_failure));
  tee_sink bad_then_ok(bad, mem);
  EXPECT_TRUE(is(bad_then_ok.write(metrics_row(2, 0.5)), errc::io_failure));
  EXPECT_EQ(mem->lines.size(), 2u); // written even after the first sink failed
  EXPECT_EQ(bad->calls, 2);
  tee_sink both_ok(mem, std::make_shared<memory_sink>());
  EXPECT_FALSE(both_ok.write(metrics_row(3, 0.5)));
  EXPECT_EQ(mem->lines[0], metrics_row(1, 0.5).str());
}

TEST(BestEffortSink, LogsTheFirstErrorOnceAndNeverFails) {
  auto bad = std::make_unique<failing_sink>();
  std::ostringstream log;
  best_effort_sink sink(std::move(bad), log, "TensorBoard copy tb/x");
  EXPECT_FALSE(sink.write(metrics_row(1, 0.5)));
  EXPECT_FALSE(sink.write(metrics_row(2, 0.5)));
  EXPECT_EQ(log.str(), "TensorBoard copy tb/x stopped: io_failure: disk full\n");
  best_effort_sink none(nullptr, log, "none");
  EXPECT_FALSE(none.write(metrics_row(1, 0.5)));
}

} // namespace
} // namespace tandem
