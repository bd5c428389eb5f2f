// model_source_checks.cpp: see model_source_checks.hpp. Both files are
// read here so that their mistakes are reported at the config's
// FILE:LINE:COL.
#include "topology/internal/model_source_checks.hpp"

#include <filesystem>
#include <vector>

#include "models/hf_checkpoint.hpp"
#include "runtime/error.hpp"
#include "tasks/bpe_tokenizer.hpp"
#include "topology/internal/prompt_checks.hpp"

namespace tandem::internal {

namespace {

void check_model(const model_config& m, checker& k) {
  k.at_least("model.hidden_size", m.hidden_size, 8);
  k.at_least("model.num_layers", m.num_layers, 1);
  k.at_least("model.num_heads", m.num_heads, 1);
  k.at_least("model.num_kv_heads", m.num_kv_heads, 1);
  k.at_least("model.intermediate_size", m.intermediate_size, 1);
  k.at_least("model.max_seq_len", m.max_seq_len, 2);
  k.positive("model.rope_theta", m.rope_theta);
  k.positive("model.rms_norm_eps", m.rms_norm_eps);
  if (m.hidden_size < 8 || m.num_heads < 1 || m.num_kv_heads < 1)
    return;
  k.require(m.hidden_size % m.num_heads == 0, "model.hidden_size",
            "must be divisible by model.num_heads (" + num(m.hidden_size) + " % "
              + num(m.num_heads) + " = " + num(m.hidden_size % m.num_heads) + ")",
            {"model.num_heads"});
  int32_t head_dim = m.hidden_size / m.num_heads;
  k.require(m.hidden_size % m.num_heads != 0 || head_dim % 2 == 0, "model.hidden_size",
            "head_dim = hidden_size / num_heads = " + num(head_dim)
              + " must be even (rotary embeddings rotate pairs of dimensions)",
            {"model.num_heads"});
  k.require(m.num_heads % m.num_kv_heads == 0, "model.num_kv_heads",
            "must divide model.num_heads (" + num(m.num_heads) + " % "
              + num(m.num_kv_heads) + " = " + num(m.num_heads % m.num_kv_heads) + ")",
            {"model.num_heads"});
}

// The shape fields a checkpoint's config.json decides.
const std::vector<std::string> checkpoint_shape_fields = {
  "model.hidden_size", "model.num_layers", "model.num_heads", "model.num_kv_heads",
  "model.intermediate_size", "model.rope_theta", "model.rms_norm_eps",
  "model.tie_embeddings"};

// Replaces the shape with the checkpoint's; model.max_seq_len, when given,
// caps the sequence length (RoPE positions past the trained range are refused).
void load_checkpoint_shape(run_config& c, const std::string& base_dir, checker& k) {
  auto& ctx = k.ctx();
  for (const auto& f : checkpoint_shape_fields)
    if (ctx.present(f))
      ctx.add(ctx.where(f), f, "set by model.hf_path (the checkpoint's config.json); remove it");
  if (ctx.invalid("model.hf_path") || ctx.invalid("model.max_seq_len"))
    return;
  k.require(!c.hf_path.empty(), "model.hf_path", "must not be empty");
  if (c.hf_path.empty())
    return;
  c.hf_path = resolve(c.hf_path, base_dir);
  std::error_code ec;
  if (!std::filesystem::is_directory(c.hf_path, ec))
    return k.require(false, "model.hf_path", "directory not found: " + c.hf_path);
  // Read with the cap: what the checkpoint allows can depend on it (a
  // Mistral sliding_window must cover max_seq_len).
  hf_load_options cap;
  if (ctx.present("model.max_seq_len"))
    cap.max_seq_len = c.model.max_seq_len;
  auto hf = read_hf_config(c.hf_path, cap);
  auto uncapped = hf || cap.max_seq_len == 0 ? hf : read_hf_config(c.hf_path);
  if (uncapped && cap.max_seq_len > uncapped->max_position_embeddings)
    return k.require(false, "model.max_seq_len",
                     num(c.model.max_seq_len) + " exceeds max_position_embeddings "
                       + num(uncapped->max_position_embeddings) + " of " + c.hf_path
                       + "/config.json");
  if (!hf)
    return k.require(false, "model.hf_path", error_text(hf.error()));
  c.model = *hf;
}


// Fields that only a tokenizer.json uses.
void check_without_tokenizer(const run_config& c, checker& k) {
  k.no_effect("task.answer_prefix", true, "the built-in tokenizer (no task.tokenizer)");
  k.no_effect("task.stop_tokens", true, "the built-in tokenizer (no task.tokenizer)");
  if (c.hf_path.empty() || k.ctx().invalid("model.hf_path"))
    return;
  const char* at = k.ctx().present("task") ? "task.tokenizer" : "model.hf_path";
  k.ctx().add(k.ctx().where(at), "task.tokenizer",
              "required with model.hf_path: the checkpoint's tokenizer.json (the built-in "
              "tokenizer's ids mean nothing to a pretrained model)");
}

// Vocabulary and stop tokens of a loaded tokenizer against the model.
void check_tokenizer_fits(run_config& c, const bpe_tokenizer& tok, checker& k) {
  const auto& path = c.task.tokenizer_path;
  if (!c.hf_path.empty() && c.model.vocab_size > 0) {
    k.require(tok.id_bound() <= c.model.vocab_size, "task.tokenizer",
              path + " has " + num(tok.id_bound()) + " token ids, more than vocab_size "
                + num(c.model.vocab_size) + " of " + c.hf_path + "/config.json");
  } else if (c.hf_path.empty()) {
    c.model.vocab_size = tok.id_bound(); // random init: one row per token id
  }
  for (const auto& name : c.task.stop_tokens)
    k.require(tok.token_to_id(name).has_value(), "task.stop_tokens",
              "'" + name + "' is not a token of " + path);
  check_template_tokens(c, tok, k.ctx());
}

} // namespace

void check_model_source(run_config& c, const std::string& base_dir, checker& k) {
  if (!k.ctx().present("model.hf_path"))
    return check_model(c.model, k);
  k.at_least("model.max_seq_len", c.model.max_seq_len, 2);
  load_checkpoint_shape(c, base_dir, k);
}

void check_tokenizer(run_config& c, const std::string& base_dir, checker& k) {
  auto& t = c.task;
  if (!k.ctx().present("task.tokenizer"))
    return check_without_tokenizer(c, k);
  k.require(c.sampler.simulated_token_ms <= 0, "sampler.simulated_token_ms",
            "simulated samplers emit the built-in tokenizer's ids; not with task.tokenizer");
  k.require(!t.stop_tokens.empty(), "task.stop_tokens",
            "required with task.tokenizer: the special tokens that end a completion, "
            "e.g. [\"<|endoftext|>\", \"<|im_end|>\"]");
  if (k.ctx().invalid("task.tokenizer"))
    return;
  k.require(!t.tokenizer_path.empty(), "task.tokenizer", "must not be empty");
  if (t.tokenizer_path.empty())
    return;
  t.tokenizer_path = resolve(t.tokenizer_path, base_dir);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(t.tokenizer_path, ec))
    return k.require(false, "task.tokenizer", "file not found: " + t.tokenizer_path);
  auto tok = load_tokenizer_json(t.tokenizer_path);
  if (!tok)
    return k.require(false, "task.tokenizer", error_text(tok.error()));
  check_tokenizer_fits(c, *tok, k);
}

} // namespace tandem::internal
