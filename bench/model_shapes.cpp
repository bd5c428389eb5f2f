// model_shapes.cpp: see model_shapes.hpp.
#include "bench/model_shapes.hpp"

namespace tandem {

std::optional<model_config> named_shape(const std::string& name) {
  model_config m;
  if (name == "tiny") {
    m.vocab_size = 512;
    m.hidden_size = 64;
    m.num_layers = 2;
    m.num_heads = 4;
    m.num_kv_heads = 2;
    m.intermediate_size = 176;
    m.model_type = "llama";
    return m;
  }
  if (name == "qwen2-0.5b") {
    m.vocab_size = 151936;
    m.hidden_size = 896;
    m.num_layers = 24;
    m.num_heads = 14;
    m.num_kv_heads = 2;
    m.intermediate_size = 4864;
    m.rope_theta = 1000000.0;
    m.rms_norm_eps = 1e-6;
    m.tie_embeddings = true;
    m.attention_bias = true;
    m.model_type = "qwen2";
    return m;
  }
  return std::nullopt;
}

} // namespace tandem
