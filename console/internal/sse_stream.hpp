// sse_stream.hpp: what one GET /api/stream client is sent, as Server-Sent
// Events text (console/http_console.hpp), apart from the HTTP plumbing.
//
// A stream keeps a cursor (the last event id and metrics step it has sent)
// and the snapshot seq it has sent. Its first text is a retry hint, a
// "cursor" event and whatever is new after the cursor; each later call waits
// (bounded) for the state to change and returns the changes:
//   event: cursor   data: {"after_event":E,"after_step":S}
//       what follows continues after E and S: a client drops the events it
//       holds with id > E and the records with step > S. Sent first and
//       again whenever the metrics log was cut back (a resumed run).
//   event: actors / event: run   the snapshot bodies, when seq changed
//   event: event    one log event (id: INSTANCE/E/S)
//   event: metrics  one metrics record (id: INSTANCE/E/S)
// The "id:" lets a reconnecting EventSource resume through Last-Event-ID;
// an id of another console instance (a restarted head) starts over.
//
// Bounds: at most `batch` events and `batch` records per call, so a client
// that connects to a long run gets its backlog in slices, never as one
// buffer the size of the rings; the next call does not wait while a backlog
// remains.
//
// Thread safety: one sse_stream per client, used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "console/console_state.hpp"

namespace tandem {

struct sse_cursor {
  uint64_t after_event = 0; // 0: from the first event
  int64_t after_step = -1;  // -1: from the first record
};

/// One SSE message: "event: NAME", "id: ID" when given, one "data:" line per
/// line of `data`, then a blank line.
std::string sse_message(std::string_view event, std::string_view data,
                        std::string_view id = {});

/// "INSTANCE/E/S", the id of a message sent with cursor `c`.
std::string format_stream_id(std::string_view instance, sse_cursor c);

/// The cursor of a Last-Event-ID this console instance issued; nullopt for
/// another instance's or a malformed one.
std::optional<sse_cursor> parse_stream_id(std::string_view instance, std::string_view id);

class sse_stream {
public:
  static constexpr size_t batch = 256;

  /// A cursor past what the state holds (a client of an earlier head) is
  /// reset to the start.
  sse_stream(std::shared_ptr<const console_state> state, std::string instance, sse_cursor from);

  /// The text to send next; empty when nothing changed within `wait`.
  std::string next(std::chrono::milliseconds wait);

  sse_cursor cursor() const { return cursor_; }

private:
  std::string take_changes();
  std::string cursor_message() const;

  std::shared_ptr<const console_state> state_;
  std::string instance_;
  sse_cursor cursor_;
  uint64_t seq_ = 0;  // the snapshot last sent
  uint64_t cuts_ = 0; // state_->metrics_cuts() when the cursor was last set
  bool started_ = false;
  bool behind_ = false; // the last call sent a full batch
};

} // namespace tandem
