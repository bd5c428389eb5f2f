// nccl_endpoints.hpp: the NCCL ends of the weight broadcast for a run with
// cluster.transports.weights: nccl -- the learner's publisher and each GPU
// sampler's receiver, on the real nccl_collective when this build has NCCL
// (TANDEM_WITH_NCCL), otherwise a clear error naming the option.
//
// Fault injection for failure tests: with TANDEM_FAULT_NCCL_DIE=V:B in a
// sampler process's environment, that process SIGKILLs itself right before
// posting bucket B of version V (mid-broadcast, as a crashed host would).
//
// Thread safety: the factories are reentrant; each object they return is
// used by one actor.
#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "actors/learner.hpp"
#include "runtime/nccl/weight_receiver.hpp"
#include "topology/process_plan.hpp"

namespace tandem {

/// The learner's NCCL settings (empty publisher unless the plan sends
/// weights over NCCL); the learner runs on the head's learner device, its
/// bucket is cfg.learner.nccl_bucket_mb.
caf::expected<learner_nccl> make_learner_nccl(const run_config& cfg, const run_plan& plan);

/// A sampler's receiver on `device` ("cuda:N"); null unless weights travel
/// over NCCL.
caf::expected<std::shared_ptr<nccl::weight_receiver>>
make_sampler_nccl(const run_plan& plan, const std::string& device);

} // namespace tandem
