// nccl_collective.hpp: the real collective: one rank of a non-blocking NCCL
// communicator on one GPU (raw device pointers, no torch). It implements both
// boundaries: collective.hpp (broadcasts, for weights) and
// reduce_collective.hpp (float32 sums and gathers, for the data-parallel
// learner: ncclAllReduce, ncclReduceScatter, ncclAllGather, in place). Both
// kinds share one ticket sequence, one stream and the event pool, so a
// reduction and a broadcast posted in that order also complete in it.
//
// Every call is bounded. The communicator is created with
// ncclConfig_t.blocking = 0, so ncclCommInitRankConfig, ncclGroupEnd and
// ncclCommFinalize return at once (often ncclInProgress); completion is
// polled through poll_until: ncclCommGetAsyncError for the communicator's
// state (post() waits for it to leave ncclInProgress, i.e. for the launch,
// before NCCL may be called again), then for the data a CUDA event recorded
// on the stream behind each posted broadcast; wait(t) polls ticket t's event.
// Events are pooled: one per broadcast in flight (collective::max_in_flight
// at most), recycled once seen complete. When the deadline passes or NCCL
// reports an error, the communicator is aborted (ncclCommAbort cancels the
// kernels) and the typed error returned:
//   errc::collective_timeout  deadline passed (a dead or stalled peer)
//   errc::peer_down           ncclRemoteError (a peer reported failure)
//   errc::backend_failure     any other NCCL or CUDA error
// After an abort the stream is given up to `drain` to empty before the
// caller may reuse its buffers (the cancelled kernels exit quickly).
//
// Streams: without a stream in the options the collective creates its own
// non-blocking one, so it never orders against the default stream; buffers
// written on another stream must be complete (synchronised or joined by an
// event) before post() is called. With a caller's stream, NCCL work is
// ordered after the caller's earlier work on it.
//
// Producer work: a reduction usually reads gradients that LibTorch wrote on
// its own stream. With options.after_legacy_stream, every post() first makes
// the collective's stream wait (on the device, no host sync) for the work
// queued so far on the legacy default stream, LibTorch's default; without
// it the caller must synchronise before post().
//
// Environment: set NCCL_NVLS_ENABLE=0 before the first init on machines
// where NVLink multicast must stay off (tests/gpu does; scripts export it).
//
// Thread safety: one thread at a time; the CUDA device is selected
// (cudaSetDevice) on every call, so a thread may drive several collectives.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <deque>
#include <vector>

#include "runtime/nccl/collective.hpp"
#include "runtime/nccl/reduce_collective.hpp"

namespace tandem::nccl {

struct nccl_options {
  int device = 0;
  cudaStream_t stream = nullptr; // nullptr: own non-blocking stream
  /// How long an aborted broadcast's kernels get to leave the stream. 2 s:
  /// ncclCommAbort makes them exit within milliseconds; longer means a
  /// wedged GPU, which the caller sees as stream_drained() == false.
  duration drain = std::chrono::seconds(2);
  /// Order every post() after the work queued on the legacy default stream
  /// (see "Producer work" above).
  bool after_legacy_stream = false;
};

class nccl_collective final : public collective, public reduce_collective {
public:
  explicit nccl_collective(clock_source& clock, nccl_options options = {});
  ~nccl_collective() override;

  nccl_collective(const nccl_collective&) = delete;
  nccl_collective& operator=(const nccl_collective&) = delete;

  caf::expected<comm_id> make_id() override;
  caf::error init(int rank, int nranks, const comm_id& id,
                  time_point until) override;
  caf::expected<ticket> post(const std::vector<device_span>& spans, int root,
                             time_point until) override;
  caf::error wait(ticket t, time_point until) override;

  /// reduce_collective: float32 sums and gathers in place (see its header).
  caf::expected<ticket> post(reduce_op op, float_span data, time_point until) override;
  int rank() const override { return comm_ != nullptr ? rank_ : -1; }
  int ranks() const override { return comm_ != nullptr ? nranks_ : 0; }
  bool device_ordered() const override { return options_.after_legacy_stream; }
  bool device_memory() const override { return true; }

  void close(time_point until) override;
  void abort() override;
  bool ready() const override { return comm_ != nullptr; }

  /// False if the last abort left kernels on the stream past `drain`.
  bool stream_drained() const { return drained_; }

  /// Raw handles for benchmarks that drive NCCL directly (null when closed).
  ncclComm_t native_comm() const { return comm_; }
  cudaStream_t stream() const { return stream_; }

private:
  caf::error prepare_device();
  caf::error wait_comm(time_point until, const char* what);
  caf::error enqueue(const std::vector<device_span>& spans, int root);
  caf::error enqueue(reduce_op op, float_span data);
  caf::error order_after_producer();
  template <class Enqueue>
  caf::expected<ticket> post_with(time_point until, const char* what, Enqueue enqueue);
  caf::expected<cudaEvent_t> take_event();
  caf::error fail(const caf::error& err);
  void drain();
  void recycle_in_flight();

  struct in_flight {
    ticket id;
    cudaEvent_t done;
  };

  clock_source& clock_;
  nccl_options options_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool own_stream_ = false;
  cudaEvent_t produced_ = nullptr;   // after_legacy_stream's fence, made on first use
  int rank_ = -1;
  int nranks_ = 0;
  std::deque<in_flight> in_flight_;  // posted, not yet seen complete, in order
  std::vector<cudaEvent_t> spare_;   // created, free for the next post
  ticket first_ = 0;                 // first ticket of the current init
  ticket next_ = 0;
  bool drained_ = true;
};

} // namespace tandem::nccl
