// tensorboard_sink.hpp: a run's metrics as TensorBoard scalars. Each metrics
// record becomes one Event in RUN_DIR/tb/events.out.tfevents.* (format:
// runtime/tfevents.hpp) at the record's "step", with one scalar per numeric
// field, tagged with the field's name; strings, arrays and nulls (NaN/Inf)
// are skipped, and so is "step" itself (it is the x axis).
//
// Values are the record's encoded numbers (metrics.jsonl's text, 6 digits)
// rounded to float32, so both files agree to float32 rounding.
//
// The head tees its metrics into metrics.jsonl and this sink (app/run_dir.cpp)
// through a best_effort_sink: metrics.jsonl is the record and its write
// errors fail the run; this is a convenience copy, whose first error is
// logged once on stderr and ends the copy while training goes on.
//
// Thread safety: one writer at a time (the controller), like every sink.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/metrics_sink.hpp"
#include "runtime/tfevents.hpp"

namespace tandem {

/// The Event of one metrics record: step = its "step" field, wall time
/// WALL_TIME. errc::malformed_message if it has no integer "step".
caf::expected<tf_event> to_tf_event(const json_record& rec, double wall_time);

class tensorboard_sink : public metrics_sink {
public:
  using clock_fn = std::function<double()>; // unix seconds

  /// Unix seconds of the system clock.
  static double system_seconds();

  /// A new event file in DIR (created if needed); a resumed head opens
  /// another one beside the earlier files (tfevents_writer::create).
  static caf::expected<std::unique_ptr<tensorboard_sink>> open(const std::string& dir,
                                                               clock_fn clock = system_seconds);

  caf::error write(const json_record& rec) override;

  const std::string& path() const { return writer_->path(); }

private:
  std::unique_ptr<tfevents_writer> writer_;
  clock_fn clock_;
};

} // namespace tandem
