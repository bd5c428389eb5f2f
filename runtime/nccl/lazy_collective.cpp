// lazy_collective.cpp: see lazy_collective.hpp.
#include "runtime/nccl/lazy_collective.hpp"

#include <string>
#include <utility>

#include "runtime/error.hpp"

namespace tandem::nccl {

lazy_collective::lazy_collective(shape s, factory make) : shape_(s), make_(std::move(make)) {}

int lazy_collective::ranks() const {
  if (inner_)
    return inner_->ranks();
  return failed_ ? 0 : shape_.ranks;
}

caf::expected<ticket> lazy_collective::post(reduce_op op, float_span data, time_point until) {
  if (failed_)
    return make_error(errc::not_ready, "rank " + std::to_string(shape_.rank)
                                         + ": its collective could not be made");
  if (!inner_) {
    auto made = make_ ? make_(until)
                      : caf::expected<std::shared_ptr<reduce_collective>>{
                          make_error(errc::invalid_argument, "no factory")};
    if (!made || !*made || (*made)->rank() != shape_.rank
        || (*made)->ranks() != shape_.ranks) {
      failed_ = true;
      if (!made)
        return made.error();
      return make_error(errc::backend_failure,
                        "rank " + std::to_string(shape_.rank) + " of "
                          + std::to_string(shape_.ranks) + ": the collective made is "
                          + (*made ? "rank " + std::to_string((*made)->rank()) + " of "
                                       + std::to_string((*made)->ranks())
                                   : std::string("null")));
    }
    inner_ = std::move(*made);
  }
  return inner_->post(op, data, until);
}

caf::error lazy_collective::wait(ticket t, time_point until) {
  if (!inner_)
    return make_error(failed_ ? errc::not_ready : errc::invalid_argument,
                      "wait: ticket " + std::to_string(t) + " was not posted");
  return inner_->wait(t, until);
}

} // namespace tandem::nccl
