// nccl_endpoints.hpp: the NCCL ends of the weight broadcast for a run with
// cluster.transports.weights: nccl -- the learner's publisher and each GPU
// sampler's receiver, on the real nccl_collective when this build has NCCL
// (TANDEM_WITH_NCCL), otherwise a clear error naming the option -- and the
// gradient collectives of a data-parallel learner's ranks (learner.ranks).
//
// Fault injection for failure tests: with TANDEM_FAULT_NCCL_DIE=V:B in a
// sampler process's environment, that process SIGKILLs itself right before
// posting bucket B of version V (mid-broadcast, as a crashed host would).
//
// Thread safety: the factories are reentrant; each object they return is
// used by one actor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/learner.hpp"
#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/reduce_collective.hpp"
#include "runtime/nccl/weight_receiver.hpp"
#include "topology/process_plan.hpp"

namespace tandem {

/// The learner's NCCL settings (empty publisher unless the plan sends
/// weights over NCCL); the learner runs on the head's learner device, its
/// bucket is cfg.learner.nccl_bucket_mb.
caf::expected<learner_nccl> make_learner_nccl(const run_config& cfg, const run_plan& plan);

/// One ready reduce_collective per data-parallel learner rank, rank r on
/// `devices[r]`: all "cpu" gives one thread_group (the ranks are threads of
/// this process, host memory); all "cuda:K" gives one NCCL communicator of
/// devices.size() ranks, rank 0 making its id and every rank initialising
/// on its own thread at once (NCCL's init is a rendezvous), by `until`
/// (errc::collective_timeout naming the rank otherwise). Mixed devices, or
/// CUDA in a build without NCCL, are errc::invalid_config.
caf::expected<std::vector<std::shared_ptr<nccl::reduce_collective>>>
make_learner_collectives(const std::vector<std::string>& devices, nccl::time_point until);

/// GPU learner ranks in several processes: rank 0 (the head) makes the NCCL
/// id on its GPU `device` ("cuda:K"); its bytes reach the other ranks with
/// the data plane's endpoints (data_plane_info::learner_nccl_id).
caf::expected<std::vector<uint8_t>> make_learner_nccl_id(const std::string& device);

/// Rank `rank` of `ranks` on `device` ("cuda:K") of the communicator that
/// `id` names: a lazy_collective (runtime/nccl/lazy_collective.hpp) whose
/// first post inits it, because the ranks of other processes come up after
/// the head built its own; every rank's first post meets in that init, by
/// the post's deadline. errc::invalid_config without NCCL or a GPU.
caf::expected<std::shared_ptr<nccl::reduce_collective>>
make_spread_gpu_collective(int rank, int ranks, const std::string& device,
                           const std::vector<uint8_t>& id);

/// A sampler's receiver on `device` ("cuda:N"); null unless weights travel
/// over NCCL.
caf::expected<std::shared_ptr<nccl::weight_receiver>>
make_sampler_nccl(const run_plan& plan, const std::string& device);

} // namespace tandem
