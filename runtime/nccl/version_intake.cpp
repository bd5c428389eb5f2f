// version_intake.cpp: the receiver's install-only-when-complete bookkeeping.
#include "runtime/nccl/version_intake.hpp"

#include <string>

#include "runtime/error.hpp"

namespace tandem::nccl {

namespace {

caf::error check_against_plan(const version_header& h, const bucket_plan& plan) {
  if (h.layout_digest != plan.layout_digest)
    return make_error(errc::version_mismatch,
                      "version " + std::to_string(h.version)
                        + ": bucket layout differs from this rank's plan");
  if (h.buckets != plan.buckets.size() || h.total_bytes != plan.total_bytes)
    return make_error(errc::malformed_message,
                      "version " + std::to_string(h.version) + ": header says "
                        + std::to_string(h.buckets) + " buckets / "
                        + std::to_string(h.total_bytes) + " bytes, plan has "
                        + std::to_string(plan.buckets.size()) + " / "
                        + std::to_string(plan.total_bytes));
  return {};
}

} // namespace

caf::error version_intake::begin(const version_header& h,
                                 const bucket_plan& plan, bool in_place) {
  if (receiving_)
    return make_error(errc::invalid_argument,
                      "version " + std::to_string(h.version)
                        + " while still receiving "
                        + std::to_string(header_.version));
  if (h.version <= installed_)
    return make_error(errc::version_mismatch,
                      "version " + std::to_string(h.version)
                        + " is not newer than installed "
                        + std::to_string(installed_));
  if (auto err = check_against_plan(h, plan))
    return err;
  header_ = h;
  payloads_.clear();
  for (auto& b : plan.buckets)
    payloads_.push_back(b.payload);
  next_ = 0;
  bytes_ = 0;
  receiving_ = true;
  in_place_ = in_place;
  return {};
}

caf::error version_intake::arrived(size_t index, size_t bytes) {
  if (!receiving_)
    return make_error(errc::invalid_argument, "bucket arrived while idle");
  if (index != next_ || index >= payloads_.size()
      || bytes != payloads_[index])
    return make_error(errc::malformed_message,
                      "bucket " + std::to_string(index) + " (" + std::to_string(bytes)
                        + " bytes) out of order or of the wrong size");
  ++next_;
  bytes_ += bytes;
  return {};
}

caf::expected<version_header> version_intake::finish() {
  if (!receiving_)
    return make_error(errc::invalid_argument, "finish while idle");
  if (next_ != header_.buckets || bytes_ != header_.total_bytes) {
    auto missing = header_.buckets - next_;
    fail();
    return make_error(errc::malformed_message,
                      "version " + std::to_string(header_.version) + " incomplete: "
                        + std::to_string(missing) + " buckets missing");
  }
  receiving_ = false;
  torn_ = false;
  installed_ = header_.version;
  return header_;
}

void version_intake::fail() {
  if (!receiving_)
    return;
  receiving_ = false;
  if (in_place_)
    torn_ = true;
}

} // namespace tandem::nccl
