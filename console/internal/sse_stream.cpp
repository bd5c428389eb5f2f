// sse_stream.cpp: one SSE client's cursor and message text (see
// sse_stream.hpp).

#include "console/internal/sse_stream.hpp"

#include <charconv>
#include <utility>

namespace tandem {

namespace {

template <class Int>
bool parse_int(std::string_view text, Int& out) {
  if (text.empty())
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

} // namespace

std::string sse_message(std::string_view event, std::string_view data, std::string_view id) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 32);
  out.append("event: ").append(event).append("\n");
  if (!id.empty())
    out.append("id: ").append(id).append("\n");
  // A line break inside the data would end the field: each line gets its
  // own "data:" (the client joins them with "\n").
  size_t begin = 0;
  while (true) {
    size_t end = data.find('\n', begin);
    std::string_view line = data.substr(begin, end == std::string_view::npos ? end : end - begin);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    out.append("data: ").append(line).append("\n");
    if (end == std::string_view::npos)
      break;
    begin = end + 1;
  }
  out.append("\n");
  return out;
}

std::string format_stream_id(std::string_view instance, sse_cursor c) {
  std::string out{instance};
  out.append("/").append(std::to_string(c.after_event));
  out.append("/").append(std::to_string(c.after_step));
  return out;
}

std::optional<sse_cursor> parse_stream_id(std::string_view instance, std::string_view id) {
  if (id.size() <= instance.size() + 1 || id.substr(0, instance.size()) != instance ||
      id[instance.size()] != '/')
    return std::nullopt;
  auto rest = id.substr(instance.size() + 1);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  sse_cursor c;
  if (!parse_int(rest.substr(0, slash), c.after_event) ||
      !parse_int(rest.substr(slash + 1), c.after_step) || c.after_step < -1)
    return std::nullopt;
  return c;
}

sse_stream::sse_stream(std::shared_ptr<const console_state> state, std::string instance,
                       sse_cursor from)
    : state_(std::move(state)), instance_(std::move(instance)), cursor_(from) {
  // Read before any record, so a cut from now on is seen by take_changes.
  cuts_ = state_->metrics_cuts();
  if (cursor_.after_event > state_->last_event_id())
    cursor_.after_event = 0;
  if (cursor_.after_step > state_->last_step())
    cursor_.after_step = -1;
}

std::string sse_stream::next(std::chrono::milliseconds wait) {
  if (!started_) {
    started_ = true;
    // retry: how long a browser waits before reconnecting a dropped stream.
    std::string out = "retry: 2000\n\n" + cursor_message();
    return out + take_changes(); // in this order: the cursor is the one before the changes
  }
  if (!behind_)
    state_->wait_newer(seq_, cursor_.after_event, cursor_.after_step, wait);
  return take_changes();
}

std::string sse_stream::take_changes() {
  std::string out;
  const uint64_t cuts = state_->metrics_cuts();
  if (cuts != cuts_) {
    // The log was cut back since the cursor was set: the records the client
    // holds past the cut are gone. Starting the records over is simplest,
    // and cut-backs are rare (a head resuming from a checkpoint).
    cuts_ = cuts;
    cursor_.after_step = -1;
    out += cursor_message();
  }
  auto snap = state_->snapshot();
  if (snap->seq != seq_ && snap->seq > 0) {
    out += sse_message("actors", snap->actors_json);
    out += sse_message("run", snap->run_json);
    seq_ = snap->seq;
  }
  auto events = state_->events_after(cursor_.after_event, batch);
  for (const auto& e : events) {
    cursor_.after_event = e.id;
    out += sse_message("event", e.json, format_stream_id(instance_, cursor_));
  }
  auto records = state_->metrics_after(cursor_.after_step, batch);
  for (const auto& r : records) {
    cursor_.after_step = r.step;
    out += sse_message("metrics", r.json, format_stream_id(instance_, cursor_));
  }
  behind_ = events.size() == batch || records.size() == batch;
  return out;
}

std::string sse_stream::cursor_message() const {
  std::string data = "{\"after_event\":" + std::to_string(cursor_.after_event) +
                     ",\"after_step\":" + std::to_string(cursor_.after_step) + "}";
  return sse_message("cursor", data, format_stream_id(instance_, cursor_));
}

} // namespace tandem
