// nccl_collective.cpp: non-blocking NCCL with deadlines (see the header).
#include "runtime/nccl/nccl_collective.hpp"

#include <cstring>
#include <string>

#include "runtime/error.hpp"
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl {

static_assert(sizeof(ncclUniqueId) == comm_id::size,
              "comm_id must hold exactly one ncclUniqueId");

namespace {

caf::error nccl_error(ncclResult_t r, ncclComm_t comm, const std::string& what) {
  auto code = r == ncclRemoteError ? errc::peer_down : errc::backend_failure;
  std::string text = what + ": " + ncclGetErrorString(r);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0')
    text += " (" + std::string(last) + ")";
  return make_error(code, text);
}

caf::error cuda_error(cudaError_t e, const std::string& what) {
  return make_error(errc::backend_failure,
                    what + ": " + cudaGetErrorName(e) + " " + cudaGetErrorString(e));
}

} // namespace

nccl_collective::nccl_collective(clock_source& clock, nccl_options options)
  : clock_(clock), options_(options), stream_(options.stream) {}

nccl_collective::~nccl_collective() {
  abort();
  cudaSetDevice(options_.device);
  if (done_ != nullptr)
    cudaEventDestroy(done_);
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
  if (done_ == nullptr) {
    if (auto e = cudaEventCreateWithFlags(&done_, cudaEventDisableTiming);
        e != cudaSuccess)
      return cuda_error(e, "cudaEventCreateWithFlags");
  }
  return {};
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
  auto r = ncclCommInitRankConfig(&comm_, nranks, raw, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    auto err = nccl_error(r, comm_, "ncclCommInitRankConfig");
    return comm_ != nullptr ? fail(err) : err;
  }
  return wait_comm(until, "init");
}

// Launches one fused group of in-place broadcasts on the stream.
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

// Polls the event behind the broadcast, watching the communicator for errors.
caf::error nccl_collective::wait_event(time_point until) {
  if (auto e = cudaEventRecord(done_, stream_); e != cudaSuccess)
    return fail(cuda_error(e, "cudaEventRecord"));
  caf::error seen;
  auto state = poll_until(clock_, until, [&] {
    auto e = cudaEventQuery(done_);
    if (e == cudaSuccess)
      return poll_state::done;
    if (e != cudaErrorNotReady) {
      seen = cuda_error(e, "broadcast kernel");
      return poll_state::failed;
    }
    ncclResult_t st = ncclSuccess;
    ncclCommGetAsyncError(comm_, &st);
    if (st == ncclSuccess || st == ncclInProgress)
      return poll_state::pending;
    seen = nccl_error(st, comm_, "broadcast");
    return poll_state::failed;
  });
  if (state == poll_state::done)
    return {};
  if (state == poll_state::failed)
    return fail(seen);
  return fail(make_error(errc::collective_timeout,
                         "broadcast missed its deadline; communicator aborted"));
}

caf::error nccl_collective::broadcast(const std::vector<device_span>& spans,
                                      int root, time_point until) {
  if (comm_ == nullptr)
    return make_error(errc::not_ready, "broadcast: no communicator");
  if (auto e = cudaSetDevice(options_.device); e != cudaSuccess)
    return fail(cuda_error(e, "cudaSetDevice"));
  if (auto err = enqueue(spans, root))
    return fail(err);
  // Non-blocking: the group may still be launching; it must finish before
  // the event recorded behind it means anything.
  if (auto err = wait_comm(until, "broadcast launch"))
    return err;
  return wait_event(until);
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
}

void nccl_collective::abort() {
  if (comm_ == nullptr)
    return;
  cudaSetDevice(options_.device);
  ncclCommAbort(comm_);
  comm_ = nullptr;
  drain();
}

void nccl_collective::drain() {
  auto state = poll_until(clock_, clock_.now() + options_.drain, [&] {
    auto e = cudaStreamQuery(stream_);
    return e == cudaErrorNotReady ? poll_state::pending : poll_state::done;
  });
  drained_ = state == poll_state::done;
}

} // namespace tandem::nccl
