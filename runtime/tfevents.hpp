// tfevents.hpp: TensorBoard event files (the tfevents record format), written
// by hand so that tandem needs no protobuf library: `tensorboard --logdir`
// reads them (runtime/tensorboard_sink.hpp writes a run's scalars with it).
//
// A file is a sequence of records, each
//   uint64 length (little-endian) | uint32 masked crc32c of those 8 bytes |
//   length bytes of data          | uint32 masked crc32c of the data
// (masking: runtime/crc32c.hpp). Each record's data is one serialized Event
// message; the first one carries only file_version "brain.Event:2". Only the
// fields below are written or decoded; others are skipped when reading.
//
// Thread safety: a tfevents_writer is used from one thread; the free
// functions are pure (read_tfevents reads one file).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem {

struct tf_scalar {
  std::string tag;
  float value = 0;
};

/// The parts of an Event this project uses.
struct tf_event {
  double wall_time = 0; // unix seconds
  int64_t step = 0;
  std::string file_version; // non-empty only in a file's first record
  std::vector<tf_scalar> scalars;
};

/// The Event protobuf bytes of E.
std::string encode_tf_event(const tf_event& e);

/// Parses Event protobuf bytes (unknown fields skipped); errc::malformed_message
/// naming WHERE on truncated or invalid bytes.
caf::expected<tf_event> decode_tf_event(const std::string& bytes, const std::string& where);

/// DATA framed as one record (length, CRCs).
std::string frame_tf_record(const std::string& data);

/// Appends records to a new event file and flushes each one, so a crash
/// loses at most the record being written.
class tfevents_writer {
public:
  /// Creates DIR if needed and a new file events.out.tfevents.<unix seconds
  /// of WALL_TIME>.<hostname> in it (".1", ".2", ... appended if that name is
  /// taken: an existing file is never overwritten), then writes the
  /// file_version record. Errors: errc::io_failure naming the path.
  static caf::expected<std::unique_ptr<tfevents_writer>> create(const std::string& dir,
                                                                double wall_time);
  ~tfevents_writer();
  tfevents_writer(const tfevents_writer&) = delete;
  tfevents_writer& operator=(const tfevents_writer&) = delete;

  /// One record; errc::io_failure naming the path.
  caf::error write(const tf_event& e);

  const std::string& path() const { return path_; }

private:
  tfevents_writer() = default;
  std::string path_;
  std::FILE* file_ = nullptr;
};

/// Every record of the event file at PATH, CRCs checked and Events decoded.
/// errc::io_failure if the file cannot be read; errc::malformed_message
/// naming the path and byte offset of a record with a bad CRC, a torn
/// (truncated) record, or an undecodable Event.
caf::expected<std::vector<tf_event>> read_tfevents(const std::string& path);

} // namespace tandem
