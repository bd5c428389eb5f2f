// learner_validation.hpp: what learner_core refuses, checked before it
// builds anything (its settings and a rank's collective) and before a step
// (every sequence of a batch). Errors are errc::invalid_argument naming the
// setting, or the sequence by its index in the batch.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "models/internal/learner_step.hpp"
#include "models/learner_core.hpp"

namespace tandem::internal {

/// One sequence of a batch: lengths agree, numbers are finite, tokens are
/// in the vocabulary and the row fits max_seq_len.
caf::error validate_sequence(const model_config& cfg, const train_sequence& s, size_t index);

/// Device, precision and micro-batch budget, checked together, as a step
/// uses them.
caf::expected<step_numerics> numerics_of(const learner_settings& s);

/// Every setting learner_core::validate() checks (the model, optimizer,
/// GRPO, ranks and ZeRO keys, and numerics_of()).
caf::error validate_settings(const learner_settings& s);

/// What make() needs beyond validate(): the communicator of a rank (none
/// with one rank; with several, ready, of this rank and on the device's
/// memory).
caf::error check_collective(const learner_settings& s);

} // namespace tandem::internal
