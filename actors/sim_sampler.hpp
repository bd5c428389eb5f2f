// sim_sampler: a simulated sampler for control-plane benchmarks and tests. It
// speaks exactly the real sampler's protocol, but decoding is a timer: no
// LibTorch, no thread of its own, so thousands of them share the scheduler.
// accepts:   generate_request (request)   -> generate_result after the simulated decode time
//            weights_chunk                (from the weight broadcaster)
//            sim_done_atom(serial)        (to itself: the active batch's timer fired)
//            sampler_reset                as the real sampler (sampler_reset.hpp)
//            status_atom                  -> (name, version, tokens, queued, requests,
//                                             groups, chunks, acks, busy_ns, longest_ns)
// sends:     weights_ack_atom(version)    -> the chunk's sender
// waits for: a complete weight version >= the batch's min_version before it
//            starts a batch (like the real sampler)
// unblocked by: the weight broadcaster delivering that version
//
// Simulated decoding: a batch is decoded in lockstep (as the real sampler's
// batched decode), so it takes `overhead + per_token * longest completion`.
// The reply is a delayed_send to itself, so time is the actor clock's: real
// in production, virtual (advance_time) on CAF's test coordinator. Token i of
// a batch is "decoded" at start + overhead + i * per_token and records the
// weight version held at that moment, so a version switched in mid-batch
// shows up mid-sequence exactly as with the real sampler.
//
// Completions: the length of each is drawn from `lengths` (uniform, inclusive;
// min == max is a fixed length); with probability `accuracy` the text is the
// reference answer, else a wrong one, left-padded with '0' digits to the drawn
// length and closed by </answer> (a length too short for that is truncated,
// finished = false). Draws are seeded per completion from (seed, group seed,
// index), so a result does not depend on message interleaving. Log-probs are
// -1 for every token.
//
// Bounds: at most `max_queued` requests wait behind the active one; more are
// refused with capacity_exceeded (the controller never sends more than
// sampler_pool::max_outstanding). Memory: one weight set being assembled.
//
// Lifecycle: idle -> decoding (timer armed) -> idle; quits when killed. A
// request still queued or active when it dies is answered by the
// controller's own timeout or down_msg handling.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/internal/health_cell.hpp"

#include "actors/backends.hpp"
#include "actors/sampler_reset.hpp"
#include "runtime/messages.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

using sim_done_atom = caf::atom_constant<caf::atom("simdone")>;

/// Completion lengths, uniform in [min_tokens, max_tokens] (inclusive).
struct sim_length_distribution {
  int32_t min_tokens = 4;
  int32_t max_tokens = 8;
};

struct sim_sampler_settings {
  std::string name = "sim-sampler";
  caf::timespan per_token{std::chrono::microseconds{200}}; // one lockstep decode step
  caf::timespan overhead{0};                               // per batch (prefill, setup)
  sim_length_distribution lengths;
  double accuracy = 0.5; // probability that a completion holds the right answer
  uint64_t seed = 1;
  int32_t max_queued = 2; // requests waiting behind the active one
  std::shared_ptr<rollout_outbox> outbox; // as sampler_settings::outbox
};

/// Counters a sim sampler reports with status_atom (summed by benchmarks).
struct sim_sampler_stats {
  int64_t requests = 0;   // generate requests accepted
  int64_t groups = 0;     // groups received in accepted requests
  int64_t tokens = 0;     // completion tokens "generated"
  int64_t chunks = 0;     // weight chunks received
  int64_t acks = 0;       // weights_ack sent (one per complete version)
  caf::timespan busy{0};    // total simulated decode time
  caf::timespan longest{0}; // longest simulated decode time of one request
};

struct sim_sampler_state {
  struct pending {
    generate_request request;
    caf::response_promise promise;
  };
  sim_sampler_settings settings;
  int64_t version = -1; // newest complete weight version held
  weights_assembler assembler;
  std::deque<pending> queue;     // bounded by settings.max_queued
  std::optional<pending> active; // the batch being "decoded"
  uint64_t serial = 0;           // of the active batch; guards its timer
  caf::actor_clock::time_point active_started;
  // Versions switched in while the active batch runs: (time, version).
  std::vector<std::pair<caf::actor_clock::time_point, int64_t>> switches;
  int64_t start_version = -1; // version held when the active batch started
  sim_sampler_stats stats;
  uint64_t bad_chunks = 0;
  std::shared_ptr<health_cell> health; // null without a health board
  int64_t tokens_reported = 0;
  static inline const char* name = "sim_sampler";
};

using sim_sampler_actor_t = caf::stateful_actor<sim_sampler_state>;

caf::behavior sim_sampler_actor(sim_sampler_actor_t* self, sim_sampler_settings settings);

/// Pure helpers (tested without actors).
/// Simulated decode time of a batch whose longest completion has `tokens` tokens.
caf::timespan sim_decode_time(const sim_sampler_settings& s, int32_t tokens);

/// The token ids of one simulated completion of `length` tokens: the answer
/// (or a wrong one) left-padded with '0' and closed by </answer>.
std::vector<int32_t> sim_completion_tokens(const std::string& answer, bool correct,
                                           int32_t length);

} // namespace tandem
