// rope.cpp: see rope.hpp.

#include "models/rope.hpp"

#include <cmath>
#include <string>

#include "runtime/error.hpp"

namespace tandem {

namespace {

constexpr double pi = 3.14159265358979323846;

// transformers' _compute_llama3_parameters, per frequency.
double llama3(double inv, const rope_scaling_config& s) {
  const double old_len = s.original_max_position_embeddings;
  const double low_wavelen = old_len / s.low_freq_factor;
  const double high_wavelen = old_len / s.high_freq_factor;
  const double wavelen = 2 * pi / inv;
  if (wavelen < high_wavelen)
    return inv;
  if (wavelen > low_wavelen)
    return inv / s.factor;
  const double smooth = (old_len / wavelen - s.low_freq_factor)
                        / (s.high_freq_factor - s.low_freq_factor);
  return (1 - smooth) * inv / s.factor + smooth * inv;
}

} // namespace

std::vector<float> rope_inv_freq(const model_config& cfg) {
  const int32_t hd = head_dim_of(cfg);
  std::vector<float> out;
  for (int32_t i = 0; i < hd / 2; ++i) {
    // float32 like torch: theta ** (arange(0, hd, 2).float() / hd), then 1 / x.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(hd);
    const float inv = 1.0f / std::pow(static_cast<float>(cfg.rope_theta), exponent);
    if (cfg.rope_scaling.type == "llama3")
      out.push_back(static_cast<float>(llama3(inv, cfg.rope_scaling)));
    else
      out.push_back(inv);
  }
  return out;
}

caf::error validate_rope_scaling(const rope_scaling_config& s) {
  auto bad = [](const std::string& what) {
    return make_error(errc::invalid_argument, "model_config.rope_scaling: " + what);
  };
  if (s.type.empty())
    return {};
  if (s.type != "llama3")
    return bad("type \"" + s.type + "\" is not supported (only llama3)");
  if (!(s.factor >= 1) || !std::isfinite(s.factor))
    return bad("factor must be >= 1");
  if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor)
      || !std::isfinite(s.high_freq_factor))
    return bad("need 0 < low_freq_factor < high_freq_factor");
  if (s.original_max_position_embeddings <= 0)
    return bad("original_max_position_embeddings must be > 0");
  return {};
}

} // namespace tandem
