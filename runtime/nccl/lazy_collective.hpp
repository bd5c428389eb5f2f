// lazy_collective.hpp: a reduce_collective whose real one is made on its
// first post(), by that post's deadline. For learner ranks on GPUs in
// several processes: NCCL's init is a rendezvous of every rank, and the
// head builds its ranks before any worker process joined (they join through
// the gate the head opens afterwards), so no rank may init at build time.
// Every rank's first operation is the same (the step's first gradient
// bucket), so the ranks' first posts meet in the init instead.
//
// Before the first post the wrapper answers rank(), ranks(),
// device_memory() and device_ordered() from its construction (the learner
// checks them when it is built) and ready() is true. A factory error closes
// it: the post returns the error (code kept: errc::collective_timeout when
// a peer did not come by the deadline), and every later call errc::not_ready.
// After a successful init every call forwards to the real collective.
//
// Thread safety: one thread at a time, as every reduce_collective.
#pragma once

#include <functional>
#include <memory>

#include "runtime/nccl/reduce_collective.hpp"

namespace tandem::nccl {

class lazy_collective final : public reduce_collective {
public:
  using factory = std::function<caf::expected<std::shared_ptr<reduce_collective>>(time_point)>;

  struct shape {
    int rank = 0;
    int ranks = 0;
    bool device_memory = false;
    bool device_ordered = false;
  };

  lazy_collective(shape s, factory make);

  int rank() const override { return inner_ ? inner_->rank() : shape_.rank; }
  int ranks() const override;
  bool ready() const override { return inner_ ? inner_->ready() : !failed_; }
  bool device_memory() const override { return shape_.device_memory; }
  bool device_ordered() const override { return shape_.device_ordered; }

  caf::expected<ticket> post(reduce_op op, float_span data, time_point until) override;
  caf::error wait(ticket t, time_point until) override;

  /// Whether the real collective was made.
  bool made() const { return inner_ != nullptr; }

private:
  shape shape_;
  factory make_;
  std::shared_ptr<reduce_collective> inner_;
  bool failed_ = false;
};

} // namespace tandem::nccl
