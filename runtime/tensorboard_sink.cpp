#include "runtime/tensorboard_sink.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "runtime/error.hpp"

namespace tandem {

namespace {

/// The number an encoded JSON value holds; false for strings, arrays, null.
bool number_of(const std::string& encoded, double& out) {
  if (encoded.empty() || encoded == "null" || encoded[0] == '"' || encoded[0] == '[')
    return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(encoded.c_str(), &end);
  return errno == 0 && end == encoded.c_str() + encoded.size();
}

} // namespace

caf::expected<tf_event> to_tf_event(const json_record& rec, double wall_time) {
  tf_event e;
  e.wall_time = wall_time;
  bool has_step = false;
  for (auto& [key, encoded] : rec.fields()) {
    double v = 0;
    if (key == "step") {
      char* end = nullptr;
      e.step = std::strtoll(encoded.c_str(), &end, 10);
      has_step = !encoded.empty() && end == encoded.c_str() + encoded.size();
    } else if (number_of(encoded, v)) {
      e.scalars.push_back({key, static_cast<float>(v)});
    }
  }
  if (!has_step)
    return make_error(errc::malformed_message, "metrics record without an integer step");
  return e;
}

double tensorboard_sink::system_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

caf::expected<std::unique_ptr<tensorboard_sink>> tensorboard_sink::open(const std::string& dir,
                                                                        clock_fn clock) {
  auto w = tfevents_writer::create(dir, clock());
  if (!w)
    return w.error();
  std::unique_ptr<tensorboard_sink> sink{new tensorboard_sink};
  sink->writer_ = std::move(*w);
  sink->clock_ = std::move(clock);
  return sink;
}

caf::error tensorboard_sink::write(const json_record& rec) {
  auto e = to_tf_event(rec, clock_());
  if (!e)
    return e.error();
  return writer_->write(*e);
}

} // namespace tandem
