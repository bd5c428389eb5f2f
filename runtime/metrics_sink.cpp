#include "runtime/metrics_sink.hpp"

#include <cmath>
#include <cstdio>

#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

json_record& json_record::add(const std::string& key, double value) {
  if (!std::isfinite(value)) {
    fields_.emplace_back(key, "null"); // JSON has no NaN/Inf
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  fields_.emplace_back(key, buf);
  return *this;
}

json_record& json_record::add(const std::string& key, int64_t value) {
  fields_.emplace_back(key, std::to_string(value));
  return *this;
}

json_record& json_record::add(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, json_quote(value));
  return *this;
}

json_record& json_record::add_array(const std::string& key,
                                    const std::vector<int64_t>& xs) {
  std::string v = "[";
  for (size_t i = 0; i < xs.size(); ++i)
    v += (i ? "," : "") + std::to_string(xs[i]);
  fields_.emplace_back(key, v + "]");
  return *this;
}

std::string json_record::str() const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i)
    out += (i ? "," : "") + json_quote(fields_[i].first) + ":" + fields_[i].second;
  return out + "}";
}

caf::expected<std::unique_ptr<jsonl_file_sink>>
jsonl_file_sink::open(const std::string& path, bool append) {
  std::unique_ptr<jsonl_file_sink> sink{new jsonl_file_sink};
  sink->path_ = path;
  sink->out_.open(path, std::ios::out | (append ? std::ios::app : std::ios::trunc));
  if (!sink->out_)
    return make_error(errc::io_failure, "cannot open " + path + " for writing");
  return sink;
}

caf::error jsonl_file_sink::write(const json_record& rec) {
  out_ << rec.str() << '\n';
  out_.flush();
  if (!out_)
    return make_error(errc::io_failure, "write to " + path_ + " failed");
  return caf::none;
}

tee_sink::tee_sink(std::shared_ptr<metrics_sink> first, std::shared_ptr<metrics_sink> second)
  : first_(std::move(first)), second_(std::move(second)) {
  // nop
}

caf::error tee_sink::write(const json_record& rec) {
  auto a = first_->write(rec);
  auto b = second_->write(rec);
  return a ? a : b;
}

best_effort_sink::best_effort_sink(std::unique_ptr<metrics_sink> inner, std::ostream& log,
                                   std::string what)
  : inner_(std::move(inner)), log_(log), what_(std::move(what)) {
  // nop
}

caf::error best_effort_sink::write(const json_record& rec) {
  if (!inner_)
    return caf::none;
  if (auto err = inner_->write(rec)) {
    log_ << what_ << " stopped: " << describe(err) << "\n" << std::flush;
    inner_.reset();
  }
  return caf::none;
}

caf::error memory_sink::write(const json_record& rec) {
  lines.push_back(rec.str());
  return caf::none;
}

} // namespace tandem
