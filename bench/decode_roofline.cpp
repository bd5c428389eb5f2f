// decode_roofline.cpp: see decode_roofline.hpp.
#include "bench/decode_roofline.hpp"

namespace tandem {

step_bytes decode_step_bytes(const model_config& c, int64_t params, double elem, int64_t rows,
                             double context) {
  const double per_token = 2.0 * c.num_layers * c.num_kv_heads * head_dim_of(c) * elem;
  return {static_cast<double>(params) * elem, per_token * static_cast<double>(rows) * context};
}

double hbm_gbs_of(const std::string& name) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  // Vendor data sheets: H200 SXM 4.8 TB/s (HBM3e); H100 SXM 3.35 TB/s,
  // PCIe 2.0 TB/s, NVL 3.9 TB/s; A100 80 GB 2.039 TB/s, 40 GB 1.555 TB/s.
  if (has("H200"))
    return 4800;
  if (has("H100"))
    return has("PCIe") ? 2000 : has("NVL") ? 3900 : 3350;
  if (has("A100"))
    return has("80GB") ? 2039 : 1555;
  return 0;
}

} // namespace tandem
