// weight_receiver.hpp: a sampler's end of the NCCL weight broadcast: one
// member rank of the learner's communicator epochs (epoch_planner.hpp).
//
// Driven by the sampler actor as the learner's messages arrive:
//   invite(epoch)  closes the current communicator (a member accepts only
//                  after it let go of the old epoch) -> the actor accepts;
//   open(...)      joins the sealed epoch as its rank, bounded by init_timeout;
//   receive(h, .)  takes part in the broadcast of version h into a staging
//                  buffer (never the live weights: a failure leaves the
//                  installed version intact), bucket by bucket with the
//                  learner's deadlines.
// A member must take part in every broadcast announced on its epoch, even of
// a version it already holds, or the learner's send times out; receive()
// therefore never refuses an older version, and the caller decides whether
// to install what arrived (arrival order is version order on one epoch).
//
// Errors: a failed open or receive closes the communicator (collective.hpp)
// and returns the typed error; the member then waits for the next invite.
//
// Thread safety: one thread at a time (the sampler actor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/bucket_plan.hpp"
#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/collective.hpp"
#include "runtime/nccl/weight_publisher.hpp"
#include "runtime/nccl/weight_transfer.hpp"
#include "runtime/version_header.hpp"

namespace tandem::nccl {

class weight_receiver {
public:
  /// Called right before bucket `index` of `version` is posted: a fault
  /// injection point for failure tests (e.g. the process kills itself
  /// mid-version). Empty in production.
  using bucket_hook = std::function<void(int64_t version, size_t index)>;

  weight_receiver(std::unique_ptr<collective> comm, clock_source& clock,
                  endpoint_options options = {}, bucket_hook hook = {});

  /// Invited to `epoch`: leaves the current one (graceful close).
  void invite(uint64_t epoch);

  /// Joins `epoch` as `rank` of `nranks`; versions on it are planned in
  /// buckets of `bucket_bytes`.
  caf::error open(uint64_t epoch, const comm_id& id, int rank, int nranks,
                  size_t bucket_bytes);

  /// Receives version `h` into `data` (`capacity` bytes).
  /// errc::version_mismatch when h is for another epoch than the open one
  /// (nothing is posted), else as receive_version().
  caf::expected<transfer_report> receive(const version_header& h, void* data,
                                         size_t capacity);

  /// The open epoch, 0 when none.
  uint64_t epoch() const { return epoch_; }
  uint64_t versions_received() const { return received_; }

private:
  std::unique_ptr<collective> comm_;
  clock_source& clock_;
  endpoint_options options_;
  bucket_hook hook_;
  uint64_t epoch_ = 0;
  size_t bucket_bytes_ = 0;
  std::optional<bucket_plan> plan_;
  version_intake intake_; // per epoch: versions only grow within one
  uint64_t received_ = 0;
};

} // namespace tandem::nccl
