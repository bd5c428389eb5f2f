// version_intake.hpp: the receiver's record of which weight version it holds,
// so it never installs a half-received one.
//
// States: idle --begin(h)--> receiving(h) --every bucket arrived, finish()-->
// idle with installed = h.version; receiving --fail()--> idle, installed
// unchanged. A bucket must arrive in order and with the planned size;
// finish() before the last bucket is an error and installs nothing.
//
// Writing into live weights: a receiver that broadcasts straight into the
// tensors it samples with (no staging copy) passes in_place = true; if such
// a receive fails the weights are a mix of two versions, so torn() turns true
// and stays true until a later version is installed completely. A sampler
// must not generate while torn(). With a staging copy (in_place = false) a
// failure leaves the installed version intact.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/bucket_plan.hpp"
#include "runtime/version_header.hpp"

namespace tandem::nccl {

class version_intake {
public:
  /// Starts receiving `h` laid out by `plan`. errc::version_mismatch when
  /// h.version is not newer than the installed one or the layout digests
  /// differ; errc::malformed_message when sizes or counts disagree with the
  /// plan; errc::invalid_argument while another version is being received.
  caf::error begin(const version_header& h, const bucket_plan& plan,
                   bool in_place);

  /// Bucket `index` arrived with `bytes` of payload.
  caf::error arrived(size_t index, size_t bytes);

  /// Installs the version if every bucket arrived; the header on success.
  caf::expected<version_header> finish();

  /// The receive failed: nothing is installed (see torn()).
  void fail();

  int64_t installed_version() const { return installed_; }
  bool receiving() const { return receiving_; }
  bool torn() const { return torn_; }

private:
  version_header header_;
  std::vector<size_t> payloads_; // per bucket, copied from the plan
  size_t next_ = 0;
  size_t bytes_ = 0;
  bool receiving_ = false;
  bool in_place_ = false;
  bool torn_ = false;
  int64_t installed_ = -1;
};

} // namespace tandem::nccl
