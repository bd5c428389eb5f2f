// hf_config.cpp: Hugging Face config.json <-> model_config for the Llama
// (with Llama 3.1's llama3 rope scaling), Qwen2, Qwen3 and Mistral families
// (declared in hf_checkpoint.hpp).
//
// Refused configs are refused because tandem's transformer would compute
// something else than transformers does with them; every such field is
// named in the error so that support can be added where it matters. Fields
// that only matter to training in transformers (dropout, initializer_range,
// use_cache, token ids) are ignored.
//
// Thread safety: stateless.

#include "models/hf_checkpoint.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"

namespace fs = std::filesystem;

namespace tandem {

namespace {

// Field access with errors that name the file, the field and, when the file
// has the field, its line:col.
class config_fields {
public:
  config_fields(std::string file, const json_value& root)
    : file_(std::move(file)), root_(root) {}

  // "FILE:LINE:COL: FIELD: what", pointing at `at` (a value of the file).
  caf::error bad_at(const json_value* at, const std::string& field,
                    const std::string& what) const {
    const auto where = at != nullptr ? ":" + at->where() : std::string();
    return make_error(errc::invalid_config, file_ + where + ": " + field + ": " + what);
  }

  // As bad_at, at the top-level field `field` if the file has it.
  caf::error bad(const std::string& field, const std::string& what) const {
    return bad_at(root_.find(field), field, what);
  }

  // Absent and null read the same: transformers writes null for "unset".
  const json_value* get(const std::string& key) const {
    const auto* v = root_.find(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  caf::error positive_int(const std::string& key, int32_t& out) const {
    const auto* v = get(key);
    if (v == nullptr)
      return bad(key, "missing");
    const auto* n = v->as_integer();
    if (n == nullptr || *n <= 0 || *n > INT32_MAX)
      return bad(key, "must be a positive integer below 2^31");
    out = static_cast<int32_t>(*n);
    return {};
  }

  caf::error number(const std::string& key, double& out) const {
    const auto* v = get(key);
    if (v == nullptr)
      return {}; // keeps the transformers default already in `out`
    const auto* n = v->as_number();
    if (n == nullptr || !(n->value > 0) || !std::isfinite(n->value))
      return bad(key, "must be a positive number");
    out = n->value;
    return {};
  }

  caf::error boolean(const std::string& key, bool& out) const {
    const auto* v = get(key);
    if (v == nullptr)
      return {};
    const auto* b = v->as_bool();
    if (b == nullptr)
      return bad(key, "must be true or false");
    out = *b;
    return {};
  }

  caf::error string(const std::string& key, std::string& out) const {
    const auto* v = get(key);
    if (v == nullptr)
      return {};
    const auto* text = v->as_string();
    if (text == nullptr)
      return bad(key, std::string("must be a string, not ") + v->type_name());
    out = *text;
    return {};
  }

  const std::string& file() const { return file_; }

private:
  std::string file_;
  const json_value& root_;
};

// A positive number field of a rope object ("rope_scaling.factor").
caf::error rope_number(const config_fields& f, const std::string& key, const json_value& v,
                       const char* name, double& out) {
  const auto* x = v.find(name);
  const auto* n = x == nullptr || x->is_null() ? nullptr : x->as_number();
  if (n == nullptr || !(n->value > 0) || !std::isfinite(n->value))
    return f.bad_at(x != nullptr ? x : &v, key + "." + name,
                    x == nullptr ? "missing (llama3 rope scaling needs it)"
                                 : "must be a positive number");
  out = n->value;
  return {};
}

caf::error read_llama3(const config_fields& f, const std::string& key, const json_value& v,
                       rope_scaling_config& out) {
  out.type = "llama3";
  double old_len = 0;
  if (auto err = rope_number(f, key, v, "factor", out.factor)) return err;
  if (auto err = rope_number(f, key, v, "low_freq_factor", out.low_freq_factor)) return err;
  if (auto err = rope_number(f, key, v, "high_freq_factor", out.high_freq_factor)) return err;
  if (auto err = rope_number(f, key, v, "original_max_position_embeddings", old_len))
    return err;
  if (old_len != std::floor(old_len) || old_len > INT32_MAX)
    return f.bad_at(v.find("original_max_position_embeddings"),
                    key + ".original_max_position_embeddings", "must be an integer");
  out.original_max_position_embeddings = static_cast<int32_t>(old_len);
  if (out.factor < 1)
    return f.bad_at(v.find("factor"), key + ".factor", "must be >= 1");
  if (!(out.high_freq_factor > out.low_freq_factor))
    return f.bad_at(v.find("high_freq_factor"), key + ".high_freq_factor",
                    "must be greater than low_freq_factor");
  return {};
}

// rope_type (or the legacy "type") "default" computes tandem's plain rotary,
// "llama3" its remapped frequencies (models/rope.hpp); others are refused.
caf::error read_rope_object(const config_fields& f, const std::string& key,
                            const json_value& v, rope_scaling_config& out) {
  if (v.as_object() == nullptr)
    return f.bad(key, "must be an object");
  const json_value* t = v.find("rope_type");
  if (t == nullptr || t->is_null())
    t = v.find("type");
  if (t == nullptr || t->is_null())
    return {};
  const auto* name = t->as_string();
  if (name != nullptr && *name == "default")
    return {};
  if (name != nullptr && *name == "llama3")
    return read_llama3(f, key, v, out);
  return f.bad_at(t, key, "rope scaling \"" + (name ? *name : "?")
                            + "\" is not supported (only \"default\" and \"llama3\")");
}

bool same_scaling(const rope_scaling_config& a, const rope_scaling_config& b) {
  return a.type == b.type && a.factor == b.factor && a.low_freq_factor == b.low_freq_factor
         && a.high_freq_factor == b.high_freq_factor
         && a.original_max_position_embeddings == b.original_max_position_embeddings;
}

caf::error read_rope(const config_fields& f, model_config& cfg) {
  double top = 0;
  if (auto err = f.number("rope_theta", top))
    return err;
  double nested = 0;
  rope_scaling_config from_params, from_scaling;
  if (const auto* rp = f.get("rope_parameters")) {
    if (auto err = read_rope_object(f, "rope_parameters", *rp, from_params))
      return err;
    if (const auto* t = rp->find("rope_theta"); t != nullptr && !t->is_null()) {
      const auto* n = t->as_number();
      if (n == nullptr || !(n->value > 0) || !std::isfinite(n->value))
        return f.bad_at(t, "rope_parameters.rope_theta", "must be a positive number");
      nested = n->value;
    }
  }
  const auto* rs = f.get("rope_scaling");
  if (rs != nullptr)
    if (auto err = read_rope_object(f, "rope_scaling", *rs, from_scaling))
      return err;
  if (rs != nullptr && f.get("rope_parameters") != nullptr && !from_scaling.type.empty()
      && !same_scaling(from_params, from_scaling))
    return f.bad("rope_scaling", "differs from rope_parameters");
  cfg.rope_scaling = from_scaling.type.empty() ? from_params : from_scaling;
  if (top > 0 && nested > 0 && top != nested)
    return f.bad("rope_theta", "differs from rope_parameters.rope_theta");
  cfg.rope_theta = nested > 0 ? nested : top > 0 ? top : 10000.0; // transformers' default
  return {};
}

// Features of the two families that tandem's transformer does not compute.
caf::error check_unsupported(const config_fields& f) {
  std::string act = "silu";
  if (auto err = f.string("hidden_act", act))
    return err;
  if (act != "silu")
    return f.bad("hidden_act", "\"" + act + "\" is not supported (only silu)");
  if (f.get("quantization_config") != nullptr)
    return f.bad("quantization_config", "quantized checkpoints are not supported");
  bool flag = false;
  if (auto err = f.boolean("mlp_bias", flag); err || flag)
    return err ? err : f.bad("mlp_bias", "MLP biases are not supported");
  if (auto err = f.boolean("use_sliding_window", flag); err || flag)
    return err ? err : f.bad("use_sliding_window", "sliding-window attention is not supported");
  if (const auto* lt = f.get("layer_types")) {
    const auto* types = lt->as_array();
    if (types == nullptr)
      return f.bad("layer_types", "must be an array");
    for (const auto& t : *types)
      if (t.as_string() == nullptr || *t.as_string() != "full_attention")
        return f.bad_at(&t, "layer_types", "only full_attention layers are supported");
  }
  return {};
}

// head_dim: transformers' attention of all four families reads it when set
// (Qwen3's config defaults it to 128), else hidden_size / num_heads.
caf::error read_head_dim(const config_fields& f, model_config& cfg) {
  cfg.head_dim = 0;
  if (cfg.model_type == "qwen3")
    cfg.head_dim = 128; // Qwen3Config's default
  if (const auto* hd = f.get("head_dim")) {
    const auto* n = hd->as_integer();
    if (n == nullptr || *n <= 0 || *n > 65536 || *n % 2 != 0)
      return f.bad("head_dim", "must be a positive even integer (rotary rotates pairs)");
    cfg.head_dim = static_cast<int32_t>(*n);
  } else if (cfg.head_dim == 0 && (cfg.hidden_size % cfg.num_heads != 0
                                   || (cfg.hidden_size / cfg.num_heads) % 2 != 0)) {
    return f.bad("num_attention_heads", "hidden_size / num_attention_heads must be an even "
                                        "integer when head_dim is not set");
  }
  return {};
}

caf::error read_shape(const config_fields& f, model_config& cfg) {
  if (auto err = f.positive_int("vocab_size", cfg.vocab_size)) return err;
  if (auto err = f.positive_int("hidden_size", cfg.hidden_size)) return err;
  if (auto err = f.positive_int("intermediate_size", cfg.intermediate_size)) return err;
  if (auto err = f.positive_int("num_hidden_layers", cfg.num_layers)) return err;
  if (auto err = f.positive_int("num_attention_heads", cfg.num_heads)) return err;
  cfg.num_kv_heads = cfg.num_heads; // transformers' default when absent
  if (f.get("num_key_value_heads") != nullptr)
    if (auto err = f.positive_int("num_key_value_heads", cfg.num_kv_heads)) return err;
  if (auto err = f.positive_int("max_position_embeddings", cfg.max_position_embeddings))
    return err;
  cfg.rms_norm_eps = 1e-6; // default of both families
  if (auto err = f.number("rms_norm_eps", cfg.rms_norm_eps)) return err;
  cfg.tie_embeddings = false;
  return f.boolean("tie_word_embeddings", cfg.tie_embeddings);
}

// The families tandem computes and what they change in the layer: Qwen2
// always has q/k/v biases; Llama's and Qwen3's attention_bias would add
// o_proj's too; Qwen3 normalises each head's q and k; Mistral has no biases
// (its attention ignores attention_bias) and a sliding window (see
// check_sliding_window).
caf::error read_family(const config_fields& f, model_config& cfg) {
  const auto* mt = f.get("model_type");
  const auto* type = mt == nullptr ? nullptr : mt->as_string();
  const char* known = "llama, qwen2, qwen3, mistral";
  if (type == nullptr)
    return f.bad("model_type", std::string("missing (expected one of ") + known + ")");
  if (*type != "llama" && *type != "qwen2" && *type != "qwen3" && *type != "mistral")
    return f.bad("model_type", "\"" + *type + "\" is not supported (" + known + ")");
  cfg.model_type = *type;
  cfg.attention_bias = cfg.model_type == "qwen2";
  cfg.qk_norm = cfg.model_type == "qwen3";
  if (cfg.model_type == "llama" || cfg.model_type == "qwen3") {
    bool bias = false;
    if (auto err = f.boolean("attention_bias", bias); err || bias)
      return err ? err : f.bad("attention_bias", "biases on q/k/v/o projections are not supported");
  }
  return {};
}

// Mistral attends over the last sliding_window keys only. tandem has no
// sliding-window attention, so the window must cover every sequence tandem
// builds: a query at position i sees keys j with i - j < sliding_window, and
// i - j <= max_seq_len - 1, so sliding_window >= max_seq_len is exactly full
// attention. Runs after apply_options (max_seq_len is final).
caf::error check_sliding_window(const config_fields& f, model_config& cfg) {
  cfg.sliding_window = 0;
  if (cfg.model_type != "mistral")
    return {}; // qwen2/qwen3 use it only with use_sliding_window (refused)
  const auto* w = f.get("sliding_window");
  if (w == nullptr)
    return {};
  const auto* n = w->as_integer();
  if (n == nullptr || *n <= 0 || *n > INT32_MAX)
    return f.bad("sliding_window", "must be null or a positive integer");
  if (*n < cfg.max_seq_len)
    return f.bad("sliding_window",
                 std::to_string(*n) + " is below max_seq_len " + std::to_string(cfg.max_seq_len)
                   + ": tandem has no sliding-window attention (cap max_seq_len at "
                   + std::to_string(*n) + ")");
  cfg.sliding_window = static_cast<int32_t>(*n);
  return {};
}

caf::error apply_options(const config_fields& f, const hf_load_options& opts,
                         model_config& cfg) {
  cfg.max_seq_len = cfg.max_position_embeddings;
  if (opts.max_seq_len < 0)
    return make_error(errc::invalid_argument, "hf_load_options.max_seq_len must be >= 0");
  if (opts.max_seq_len > cfg.max_position_embeddings)
    return f.bad("max_position_embeddings",
                 std::to_string(cfg.max_position_embeddings) + " is below the requested max_seq_len "
                   + std::to_string(opts.max_seq_len));
  if (opts.max_seq_len > 0)
    cfg.max_seq_len = opts.max_seq_len;
  return {};
}

const char* architecture(const std::string& model_type) {
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "qwen3") return "Qwen3ForCausalLM";
  if (model_type == "mistral") return "MistralForCausalLM";
  return "LlamaForCausalLM";
}

// {"rope_type": ..., "rope_theta": ..., and llama3's four fields}.
std::string rope_object(const model_config& c) {
  const auto theta = json_number_text(c.rope_theta);
  const auto& s = c.rope_scaling;
  if (s.type.empty())
    return "{\"rope_type\": \"default\", \"rope_theta\": " + theta + "}";
  return "{\"rope_type\": " + json_quote(s.type) + ", \"rope_theta\": " + theta
         + ", \"factor\": " + json_number_text(s.factor)
         + ", \"low_freq_factor\": " + json_number_text(s.low_freq_factor)
         + ", \"high_freq_factor\": " + json_number_text(s.high_freq_factor)
         + ", \"original_max_position_embeddings\": "
         + std::to_string(s.original_max_position_embeddings) + "}";
}

// Fields only some families have.
std::string family_fields(const model_config& c) {
  auto field = [](const char* k, const std::string& v) {
    return std::string("  \"") + k + "\": " + v + ",\n";
  };
  if (c.model_type == "qwen2")
    return field("use_sliding_window", "false");
  if (c.model_type == "qwen3")
    return field("use_sliding_window", "false") + field("attention_bias", "false");
  if (c.model_type == "mistral")
    return field("sliding_window",
                 c.sliding_window > 0 ? std::to_string(c.sliding_window) : "null");
  return field("attention_bias", "false") + field("mlp_bias", "false");
}

std::string config_json(const model_config& c) {
  const auto theta = json_number_text(c.rope_theta);
  const int32_t max_pos = c.max_position_embeddings > 0 ? c.max_position_embeddings
                                                        : c.max_seq_len;
  auto field = [](const char* k, const std::string& v) {
    return std::string("  \"") + k + "\": " + v + ",\n";
  };
  auto num = [](int32_t v) { return std::to_string(v); };
  std::string out = "{\n";
  out += field("architectures", std::string("[\"") + architecture(c.model_type) + "\"]");
  out += field("model_type", json_quote(c.model_type));
  out += field("hidden_act", "\"silu\"");
  out += field("hidden_size", num(c.hidden_size));
  out += field("intermediate_size", num(c.intermediate_size));
  out += field("num_hidden_layers", num(c.num_layers));
  out += field("num_attention_heads", num(c.num_heads));
  out += field("num_key_value_heads", num(c.num_kv_heads));
  out += field("head_dim", num(head_dim_of(c)));
  out += field("vocab_size", num(c.vocab_size));
  out += field("max_position_embeddings", num(max_pos));
  out += field("rms_norm_eps", json_number_text(c.rms_norm_eps));
  // transformers 4 reads rope_theta and rope_scaling, transformers 5
  // rope_parameters; a llama3 scaling goes into both objects.
  out += field("rope_theta", theta);
  out += field("rope_parameters", rope_object(c));
  if (!c.rope_scaling.type.empty())
    out += field("rope_scaling", rope_object(c));
  out += field("tie_word_embeddings", c.tie_embeddings ? "true" : "false");
  out += family_fields(c);
  out += field("torch_dtype", "\"float32\"");
  return out + "  \"dtype\": \"float32\"\n}\n";
}

} // namespace

caf::expected<model_config> read_hf_config(const std::string& path,
                                           const hf_load_options& opts) {
  const auto file = fs::is_directory(path) ? (fs::path(path) / "config.json").string() : path;
  // A key written twice is refused: Python's json keeps the last one, find()
  // would keep the first.
  auto doc = read_json_file(file, json_options{/*unique_keys=*/true});
  if (!doc)
    return doc.error(); // io_failure, or invalid_config at FILE:LINE:COL
  if (doc->as_object() == nullptr)
    return make_error(errc::invalid_config, file + ": must hold a JSON object");
  config_fields f{file, *doc};
  model_config cfg;
  if (auto err = read_family(f, cfg)) return err;
  if (auto err = read_shape(f, cfg)) return err;
  if (auto err = read_rope(f, cfg)) return err;
  if (auto err = check_unsupported(f)) return err;
  if (auto err = read_head_dim(f, cfg)) return err;
  if (auto err = apply_options(f, opts, cfg)) return err;
  if (auto err = check_sliding_window(f, cfg)) return err;
  return cfg;
}

caf::error write_hf_config(const std::string& dir, const model_config& c) {
  if (c.model_type != "qwen2" && c.model_type != "llama" && c.model_type != "qwen3"
      && c.model_type != "mistral")
    return make_error(errc::invalid_argument, "write_hf_config: model_type \"" + c.model_type
                                                + "\" is not llama, qwen2, qwen3 or mistral");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::io_failure, "cannot create " + dir + ": " + ec.message());
  return write_json_file((fs::path(dir) / "config.json").string(), config_json(c));
}

} // namespace tandem
