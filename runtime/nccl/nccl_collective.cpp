// nccl_collective.cpp: non-blocking NCCL with deadlines (see the header).
#include "runtime/nccl/nccl_collective.hpp"

#include <cstring>
#include <string>

#include "runtime/error.hpp"
#include "runtime/nccl/internal/cuda_errors.hpp"
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl {

static_assert(sizeof(ncclUniqueId) == comm_id::size,
              "comm_id must hold exactly one ncclUniqueId");

using internal::cuda_error;
using internal::nccl_error;

nccl_collective::nccl_collective(clock_source& clock, nccl_options options)
  : clock_(clock), options_(options), stream_(options.stream) {}

nccl_collective::~nccl_collective() {
  abort(); // returns every in-flight event to spare_
  cudaSetDevice(options_.device);
  for (auto e : spare_)
    cudaEventDestroy(e);
  if (produced_ != nullptr)
    cudaEventDestroy(produced_);
  if (own_stream_)
    cudaStreamDestroy(stream_);
}

caf::expected<comm_id> nccl_collective::make_id() {
  ncclUniqueId raw;
  if (auto r = ncclGetUniqueId(&raw); r != ncclSuccess)
    return nccl_error(r, nullptr, "ncclGetUniqueId");
  comm_id id;
  std::memcpy(id.bytes.data(), &raw, comm_id::size);
  return id;
}

caf::error nccl_collective::prepare_device() {
  if (auto e = cudaSetDevice(options_.device); e != cudaSuccess)
    return cuda_error(e, "cudaSetDevice(" + std::to_string(options_.device) + ")");
  if (stream_ == nullptr) {
    if (auto e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
        e != cudaSuccess)
      return cuda_error(e, "cudaStreamCreateWithFlags");
    own_stream_ = true;
  }
  return {};
}

caf::expected<cudaEvent_t> nccl_collective::take_event() {
  if (!spare_.empty()) {
    auto e = spare_.back();
    spare_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  if (auto r = cudaEventCreateWithFlags(&e, cudaEventDisableTiming); r != cudaSuccess)
    return cuda_error(r, "cudaEventCreateWithFlags");
  return e;
}

caf::error nccl_collective::fail(const caf::error& err) {
  abort();
  return err;
}

// Polls the communicator's state until it leaves ncclInProgress.
caf::error nccl_collective::wait_comm(time_point until, const char* what) {
  caf::error seen;
  auto state = poll_until(clock_, until, [&] {
    ncclResult_t st = ncclSuccess;
    auto r = ncclCommGetAsyncError(comm_, &st);
    if (r != ncclSuccess)
      st = r;
    if (st == ncclInProgress)
      return poll_state::pending;
    if (st == ncclSuccess)
      return poll_state::done;
    seen = nccl_error(st, comm_, what);
    return poll_state::failed;
  });
  if (state == poll_state::done)
    return {};
  if (state == poll_state::failed)
    return fail(seen);
  return fail(make_error(errc::collective_timeout,
                         std::string{what} + " missed its deadline; communicator aborted"));
}

caf::error nccl_collective::init(int rank, int nranks, const comm_id& id,
                                 time_point until) {
  if (comm_ != nullptr)
    return make_error(errc::invalid_argument, "init: still ready; close first");
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return make_error(errc::invalid_argument, "init: rank " + std::to_string(rank)
                                                + " of " + std::to_string(nranks));
  if (auto err = prepare_device())
    return err;
  ncclUniqueId raw;
  std::memcpy(&raw, id.bytes.data(), comm_id::size);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  first_ = next_;
  rank_ = rank;
  nranks_ = nranks;
  auto r = ncclCommInitRankConfig(&comm_, nranks, raw, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    auto err = nccl_error(r, comm_, "ncclCommInitRankConfig");
    return comm_ != nullptr ? fail(err) : err;
  }
  return wait_comm(until, "init");
}

// Launches one fused group of in-place broadcasts on the stream. Each post is
// its own group so that an event can be recorded behind it (collective.hpp).
caf::error nccl_collective::enqueue(const std::vector<device_span>& spans, int root) {
  ncclResult_t first = ncclSuccess;
  ncclGroupStart();
  for (auto& s : spans) {
    if (s.bytes == 0)
      continue;
    auto r = ncclBroadcast(s.data, s.data, s.bytes, ncclUint8, root, comm_, stream_);
    if (first == ncclSuccess && r != ncclSuccess && r != ncclInProgress)
      first = r;
  }
  auto r = ncclGroupEnd();
  if (first != ncclSuccess)
    return nccl_error(first, comm_, "ncclBroadcast");
  if (r != ncclSuccess && r != ncclInProgress)
    return nccl_error(r, comm_, "ncclGroupEnd");
  return {};
}

// The common part of every post: the in-flight bound, an event, the launch
// (`enqueue`), the wait for it to leave ncclInProgress, the event behind it.
template <class Enqueue>
caf::expected<ticket> nccl_collective::post_with(time_point until, const char* what,
                                                 Enqueue enqueue) {
  if (comm_ == nullptr)
    return make_error(errc::not_ready, std::string{what} + ": no communicator");
  if (in_flight_.size() >= max_in_flight)
    return make_error(errc::capacity_exceeded, std::string{what} + ": "
                                                 + std::to_string(max_in_flight)
                                                 + " operations in flight");
  if (auto e = cudaSetDevice(options_.device); e != cudaSuccess)
    return fail(cuda_error(e, "cudaSetDevice"));
  if (auto err = order_after_producer())
    return fail(err);
  auto done = take_event();
  if (!done)
    return fail(done.error());
  in_flight_.push_back({next_, *done}); // abort() recycles it from here on
  if (auto err = enqueue())
    return fail(err);
  // Non-blocking: the group may still be launching (the first one of a
  // communicator connects to the peers); NCCL must not be called again, and
  // an event recorded behind it would mean nothing, until it has launched.
  if (auto err = wait_comm(until, what))
    return err;
  if (auto e = cudaEventRecord(*done, stream_); e != cudaSuccess)
    return fail(cuda_error(e, "cudaEventRecord"));
  return next_++;
}

caf::expected<ticket> nccl_collective::post(const std::vector<device_span>& spans,
                                            int root, time_point until) {
  return post_with(until, "broadcast launch", [&] { return enqueue(spans, root); });
}

caf::expected<ticket> nccl_collective::post(reduce_op op, float_span data, time_point until) {
  if (comm_ != nullptr && op != reduce_op::all_reduce
      && data.count % static_cast<size_t>(nranks_) != 0)
    return make_error(errc::invalid_argument,
                      std::string(to_string(op)) + " of " + std::to_string(data.count)
                        + " floats on " + std::to_string(nranks_) + " ranks: pad to a multiple");
  const std::string what = "rank " + std::to_string(rank_) + "/" + std::to_string(nranks_)
                           + ": " + to_string(op) + " launch";
  return post_with(until, what.c_str(), [&] { return enqueue(op, data); });
}

// One in-place reduction as its own group (so that an event can be recorded
// behind it, as for broadcasts).
caf::error nccl_collective::enqueue(reduce_op op, float_span data) {
  if (data.count == 0)
    return {};
  const size_t shard = data.count / static_cast<size_t>(nranks_);
  float* mine = data.data + static_cast<size_t>(rank_) * shard;
  ncclResult_t r = ncclSuccess;
  ncclGroupStart();
  switch (op) {
    case reduce_op::all_reduce:
      r = ncclAllReduce(data.data, data.data, data.count, ncclFloat32, ncclSum, comm_, stream_);
      break;
    case reduce_op::reduce_scatter: // in place: recvbuff = sendbuff + rank * recvcount
      r = ncclReduceScatter(data.data, mine, shard, ncclFloat32, ncclSum, comm_, stream_);
      break;
    case reduce_op::all_gather: // in place: sendbuff = recvbuff + rank * sendcount
      r = ncclAllGather(mine, data.data, shard, ncclFloat32, comm_, stream_);
      break;
  }
  auto end = ncclGroupEnd();
  if (r != ncclSuccess && r != ncclInProgress)
    return nccl_error(r, comm_, to_string(op));
  if (end != ncclSuccess && end != ncclInProgress)
    return nccl_error(end, comm_, "ncclGroupEnd");
  return {};
}

// after_legacy_stream: the collective's stream waits for the default stream.
caf::error nccl_collective::order_after_producer() {
  if (!options_.after_legacy_stream || stream_ == cudaStreamLegacy)
    return {};
  if (produced_ == nullptr)
    if (auto e = cudaEventCreateWithFlags(&produced_, cudaEventDisableTiming); e != cudaSuccess)
      return cuda_error(e, "cudaEventCreateWithFlags");
  if (auto e = cudaEventRecord(produced_, cudaStreamLegacy); e != cudaSuccess)
    return cuda_error(e, "cudaEventRecord(legacy stream)");
  if (auto e = cudaStreamWaitEvent(stream_, produced_, 0); e != cudaSuccess)
    return cuda_error(e, "cudaStreamWaitEvent");
  return {};
}

// Polls ticket t's event, watching the communicator for errors. Events
// complete in stream order, so t's done means every earlier one is too.
caf::error nccl_collective::wait(ticket t, time_point until) {
  if (comm_ == nullptr)
    return make_error(errc::not_ready, "wait: no communicator");
  if (t < first_ || t >= next_)
    return make_error(errc::invalid_argument,
                      "wait: ticket " + std::to_string(t) + " was not posted since init");
  if (in_flight_.empty() || t < in_flight_.front().id)
    return {}; // seen complete already
  if (auto e = cudaSetDevice(options_.device); e != cudaSuccess)
    return fail(cuda_error(e, "cudaSetDevice"));
  auto done = in_flight_[t - in_flight_.front().id].done;
  caf::error seen;
  auto state = poll_until(clock_, until, [&] {
    return internal::probe_work(cudaEventQuery(done), comm_, "collective operation", seen);
  });
  if (state == poll_state::failed)
    return fail(seen);
  if (state != poll_state::done)
    return fail(make_error(errc::collective_timeout,
                           "rank " + std::to_string(rank_) + "/" + std::to_string(nranks_)
                             + ": operation " + std::to_string(t)
                             + " missed its deadline (a peer is dead or stalled); "
                               "communicator aborted"));
  while (!in_flight_.empty() && in_flight_.front().id <= t) {
    spare_.push_back(in_flight_.front().done);
    in_flight_.pop_front();
  }
  return {};
}

void nccl_collective::close(time_point until) {
  if (comm_ == nullptr)
    return;
  cudaSetDevice(options_.device);
  auto r = ncclCommFinalize(comm_);
  if (r != ncclSuccess && r != ncclInProgress) {
    abort();
    return;
  }
  if (wait_comm(until, "finalize")) // aborted already on failure
    return;
  ncclCommDestroy(comm_);
  comm_ = nullptr;
  recycle_in_flight();
}

void nccl_collective::abort() {
  if (comm_ == nullptr)
    return;
  cudaSetDevice(options_.device);
  ncclCommAbort(comm_);
  comm_ = nullptr;
  drain();
  recycle_in_flight();
}

// Every event goes back to spare_; post() re-records one before any query.
void nccl_collective::recycle_in_flight() {
  for (auto& f : in_flight_)
    spare_.push_back(f.done);
  in_flight_.clear();
}

void nccl_collective::drain() {
  auto state = poll_until(clock_, clock_.now() + options_.drain, [&] {
    auto e = cudaStreamQuery(stream_);
    return e == cudaErrorNotReady ? poll_state::pending : poll_state::done;
  });
  drained_ = state == poll_state::done;
}

} // namespace tandem::nccl
