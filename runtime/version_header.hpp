// version_header.hpp: what the learner announces over the control plane (CAF)
// before it broadcasts one weight version over NCCL.
//
// A receiver posts one NCCL broadcast per bucket, so it must know the bucket
// layout before the bytes come; it checks the header against its own plan
// (same tensor sizes give the same layout_digest) and refuses a mismatch
// instead of posting broadcasts of the wrong size, which NCCL would turn into
// a hang or silent corruption.
//
// A plain message type: it lives in runtime/ (with messages.hpp, which
// registers it) so that tandem_runtime needs nothing from the broadcast
// library above it. That library (directory runtime/nccl) builds it from a
// bucket plan (make_header in bucket_plan.hpp) and checks it against the
// receiver's plan (version_intake.hpp).
//
// Thread safety: a value type.
#pragma once

#include <cstdint>

#include <caf/meta/type_name.hpp>

namespace tandem::nccl {

struct version_header {
  int64_t version = -1;
  uint64_t epoch = 0;        // communicator epoch that carries it
  uint64_t total_bytes = 0;  // payload bytes over all buckets
  uint32_t buckets = 0;
  uint64_t layout_digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, version_header& x) {
  return f(caf::meta::type_name("version_header"), x.version, x.epoch,
           x.total_bytes, x.buckets, x.layout_digest);
}

} // namespace tandem::nccl
