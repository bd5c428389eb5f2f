// grpo_config.cpp: names of the GRPO enums, spelled like their enumerators so
// that logs and config files use one vocabulary.
//
// Thread safety: returns pointers to string literals; safe from any thread.

#include "models/grpo_config.hpp"

namespace tandem {

const char* to_string(std_scaling x) {
  switch (x) {
    case std_scaling::group:
      return "group";
    case std_scaling::batch:
      return "batch";
    case std_scaling::none:
      return "none";
    case std_scaling::batch_residual:
      return "batch_residual";
  }
  return "unknown"; // only reachable through a cast of an invalid value
}

const char* to_string(loss_aggregation x) {
  switch (x) {
    case loss_aggregation::sequence_mean:
      return "sequence_mean";
    case loss_aggregation::token_mean:
      return "token_mean";
    case loss_aggregation::constant_normalizer:
      return "constant_normalizer";
  }
  return "unknown"; // only reachable through a cast of an invalid value
}

const char* to_string(advantage_baseline x) {
  switch (x) {
    case advantage_baseline::group: return "group";
    case advantage_baseline::batch: return "batch";
    case advantage_baseline::fixed: return "fixed";
  }
  return "unknown";
}

const char* to_string(importance_level x) {
  switch (x) {
    case importance_level::token: return "token";
    case importance_level::sequence: return "sequence";
  }
  return "unknown";
}

const char* to_string(weight_bound_mode x) {
  switch (x) {
    case weight_bound_mode::truncate: return "truncate";
    case weight_bound_mode::mask: return "mask";
  }
  return "unknown";
}

} // namespace tandem
