// cuda_errors.hpp: NCCL and CUDA result codes as tandem errors, and the one
// probe of GPU work that every wait of tandem_nccl polls. Private to
// runtime/nccl.
//
// Thread safety: stateless (ncclGetLastError reads NCCL's own record).
#pragma once

#include <string>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "runtime/error.hpp"
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl::internal {

/// errc::peer_down for ncclRemoteError, errc::backend_failure otherwise,
/// with NCCL's last error text when it has one.
inline caf::error nccl_error(ncclResult_t r, ncclComm_t comm, const std::string& what) {
  auto code = r == ncclRemoteError ? errc::peer_down : errc::backend_failure;
  std::string text = what + ": " + ncclGetErrorString(r);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0')
    text += " (" + std::string(last) + ")";
  return make_error(code, text);
}

inline caf::error cuda_error(cudaError_t e, const std::string& what) {
  return make_error(errc::backend_failure,
                    what + ": " + cudaGetErrorName(e) + " " + cudaGetErrorString(e));
}

/// One poll_until probe of work queued on a stream: `query` is the result of
/// cudaEventQuery / cudaStreamQuery. While the work is not done, the
/// communicator is asked for an asynchronous error (a peer's failure shows
/// there, not on the stream); a failure is recorded in `seen`.
inline poll_state probe_work(cudaError_t query, ncclComm_t comm, const std::string& what,
                             caf::error& seen) {
  if (query == cudaSuccess)
    return poll_state::done;
  if (query != cudaErrorNotReady) {
    seen = cuda_error(query, what);
    return poll_state::failed;
  }
  ncclResult_t st = ncclSuccess;
  ncclCommGetAsyncError(comm, &st);
  if (st == ncclSuccess || st == ncclInProgress)
    return poll_state::pending;
  seen = nccl_error(st, comm, what);
  return poll_state::failed;
}

} // namespace tandem::nccl::internal
