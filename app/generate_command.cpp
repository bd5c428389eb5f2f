// generate_command.cpp: `tandem generate CHECKPOINT --prompt TEXT [flags]` —
// completions of one prompt by a trained policy, outside a run.
//
// CHECKPOINT is a checkpoint, a run directory or a Hugging Face directory
// (app/model_source.hpp). With a run's config (checkpoints, run
// directories, a run's hf/ copies) TEXT is framed as in training: the task
// tokenizer's prompt (question + task.answer_prefix), stopping at
// task.stop_tokens, sampled with the run's sampler settings unless a flag
// says otherwise. A bare Hugging Face directory needs its tokenizer.json;
// TEXT is encoded as is, and generation stops at --stop (default: the
// eos_token of its tokenizer_config.json) or after --max-new-tokens.
// --temperature 0 is greedy decoding.
//
// Output (stdout): a header line, then per completion
//   "completion I of N (T tokens, ended by a stop token | max-new-tokens):"
// and the completion's text on the following line(s).
//
// Exit: 0 printed; 1 failed (the model, decoding); 2 bad usage: a flag, a
// path that is no checkpoint, an HF directory without tokenizer.json, a
// prompt too long for the model.
//
// Thread safety: a command; one thread.
#include <fstream>
#include <iostream>
#include <sstream>

#include "actors/backends.hpp"
#include "app/commands.hpp"
#include "app/model_source.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/utf8.hpp"
#include "tasks/bpe_task_tokenizer.hpp"
#include "wiring/components.hpp"
#include "wiring/evaluation.hpp"

namespace tandem {

namespace {

command_line generate_flags() {
  command_line cl("tandem generate CHECKPOINT --prompt TEXT [flags]",
                  "completions of one prompt by a checkpoint, a run's newest checkpoint or a "
                  "Hugging Face directory");
  cl.positional("CHECKPOINT", "RUN_DIR/checkpoints/step-N, RUN_DIR, or a Hugging Face directory")
    .text("--prompt", "TEXT", "the prompt (a question of the run's task, framed as in training)")
    .text("--max-new-tokens", "N", "tokens per completion (default: the run's; 64 without one)")
    .text("--temperature", "T", "sampling temperature, 0 = greedy (default: the run's; 1)")
    .text("--top-p", "P", "nucleus mass in (0, 1] (default: the run's; 1)")
    .integer("--seed", "sampling seed", 1, 0, INT64_MAX)
    .integer("--n", "completions to sample", 1, 1, 1024)
    .text("--stop", "TOKENS", "comma-separated special tokens ending a completion (Hugging Face "
                              "directories; default: tokenizer_config.json's eos_token)")
    .text("--device", "D", "cpu, cuda or cuda:N", "cpu")
    .integer("--threads", "LibTorch threads", 1, 1, 256);
  return cl;
}

struct failure {
  int code;
  std::string what;
};

struct framing {
  std::shared_ptr<const text_tokenizer> tok;
  sampling_params params;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty())
      out.push_back(part);
  return out;
}

/// The framing of a run's config.
caf::expected<framing> run_frame(const run_config& cfg) {
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  auto params = sampling_with_stops(cfg);
  if (!params)
    return params.error();
  return framing{*tok, *params};
}

/// A bare Hugging Face directory's framing: its tokenizer.json, raw text.
caf::expected<framing> hf_frame(const std::string& dir, const command_line& cl) {
  framing f;
  const auto path = dir + "/tokenizer.json";
  if (!std::ifstream(path))
    return make_error(errc::invalid_argument,
                      dir + " has no tokenizer.json (a Hugging Face directory needs one; a run "
                            "from the built-in tokenizer is generated from its checkpoint)");
  bpe_task_options o;
  o.answer_prefix.clear();
  o.stop_tokens = cl.given("--stop") ? split_commas(cl.value("--stop"))
                                     : std::vector<std::string>{};
  if (!cl.given("--stop"))
    if (auto eos = hf_eos_token(dir); !eos.empty())
      o.stop_tokens.push_back(eos);
  auto tok = bpe_task_tokenizer::load(path, o);
  if (!tok)
    return make_error(errc::invalid_argument, describe(tok.error()));
  f.tok = std::shared_ptr<const text_tokenizer>{std::move(*tok)};
  f.params.stop_tokens = f.tok->stop_ids();
  f.params.max_new_tokens = 64;
  return f;
}

caf::error apply_flags(const command_line& cl, sampling_params& p) {
  auto len = optional_number(cl, "--max-new-tokens", 1, 1 << 20, true);
  auto top_p = optional_number(cl, "--top-p", 1e-9, 1, false);
  auto temp = optional_number(cl, "--temperature", 0, 100, false);
  for (auto* x : {&len, &top_p, &temp})
    if (!*x)
      return x->error();
  if (*len)
    p.max_new_tokens = static_cast<int32_t>(**len);
  if (*top_p)
    p.top_p = **top_p;
  if (*temp)
    p.temperature = **temp;
  if (p.temperature == 0) { // greedy: any temperature, the top token only
    p.temperature = 1;
    p = greedy_of(p);
  }
  return caf::none;
}

void print(const std::vector<generated_sequence>& seqs, const text_tokenizer& tok) {
  for (size_t i = 0; i < seqs.size(); ++i) {
    std::cout << "completion " << i + 1 << " of " << seqs.size() << " (" << seqs[i].tokens.size()
              << " tokens, ended by " << (seqs[i].finished ? "a stop token" : "max-new-tokens")
              << "):\n"
              << tok.decode(seqs[i].tokens) << "\n";
  }
}

/// The model and its framing. A bare Hugging Face directory is loaded for
/// prompt + max-new-tokens positions (not its max_position_embeddings,
/// which sizes the KV cache), so its tokenizer comes first.
caf::expected<std::pair<model_source, framing>> load(const command_line& cl,
                                                     std::vector<int32_t>& prompt) {
  const auto path = cl.positionals()[0];
  const bool bare = is_bare_hf_dir(path);
  caf::expected<framing> f = framing{};
  if (bare && !(f = hf_frame(path, cl)))
    return f.error();
  int32_t len = 0;
  if (bare) {
    if (auto err = apply_flags(cl, f->params))
      return err;
    auto ids = f->tok->prompt_ids(cl.value("--prompt"));
    if (!ids)
      return make_error(errc::invalid_argument, "--prompt: " + describe(ids.error()));
    len = static_cast<int32_t>(ids->size()) + f->params.max_new_tokens;
  }
  auto src = load_model_source(path, len);
  if (!src)
    return src.error();
  if (!bare && !(f = src->run ? run_frame(*src->run) : hf_frame(path, cl)))
    return make_error(errc::invalid_argument, describe(f.error()));
  if (!bare)
    if (auto err = apply_flags(cl, f->params))
      return err;
  auto ids = f->tok->prompt_ids(cl.value("--prompt"));
  if (!ids)
    return make_error(errc::invalid_argument, "--prompt: " + describe(ids.error()));
  prompt = std::move(*ids);
  return std::make_pair(std::move(*src), std::move(*f));
}

std::optional<failure> run_generate(const command_line& cl) {
  std::vector<int32_t> ids;
  auto loaded = load(cl, ids);
  if (!loaded)
    return failure{is(loaded.error(), errc::invalid_argument) ? 2 : 1,
                   describe(loaded.error())};
  auto* src = &loaded->first;
  auto* f = &loaded->second;
  auto* prompt = &ids;
  const auto& cfg = src->model->config();
  if (prompt->size() + static_cast<size_t>(f->params.max_new_tokens)
      > static_cast<size_t>(cfg.max_seq_len))
    return failure{2, "the prompt (" + std::to_string(prompt->size()) + " tokens) and "
                        + std::to_string(f->params.max_new_tokens)
                        + " new tokens exceed the model's " + std::to_string(cfg.max_seq_len)
                        + " positions"};
  device_options dev;
  dev.device = cl.value("--device");
  dev.max_rows = static_cast<int32_t>(cl.as_int("--n"));
  auto decoder = make_torch_eval_decoder(std::move(src->model),
                                         static_cast<int32_t>(cl.as_int("--threads")), dev);
  if (!decoder)
    return failure{1, describe(decoder.error())};
  const auto n = static_cast<size_t>(cl.as_int("--n"));
  std::vector<uint64_t> seeds;
  for (size_t i = 0; i < n; ++i)
    seeds.push_back(completion_seed(static_cast<uint64_t>(cl.as_int("--seed")),
                                    static_cast<int32_t>(i)));
  auto out = (*decoder)->generate(std::vector<std::vector<int32_t>>(n, *prompt), f->params,
                                  std::move(seeds), src->version);
  if (!out)
    return failure{1, describe(out.error())};
  std::cout << src->what << (src->version >= 0 ? " (v" + std::to_string(src->version) + ")" : "")
            << ", prompt of " << prompt->size() << " tokens: " << f->tok->decode(*prompt) << "\n";
  print(*out, *f->tok);
  return std::nullopt;
}

} // namespace

int generate_command(const args& a) {
  auto cl = generate_flags();
  if (auto code = parse_or_exit(cl, a))
    return *code;
  if (!cl.given("--prompt")) {
    std::cerr << "tandem generate: --prompt TEXT is required\n";
    return 2;
  }
  if (auto bad = utf8_problem(cl.value("--prompt")); !bad.empty()) {
    std::cerr << "tandem generate: --prompt: " << bad << "\n";
    return 2;
  }
  if (auto f = run_generate(cl)) {
    std::cerr << "tandem generate: " << f->what << "\n";
    return f->code;
  }
  return 0;
}

} // namespace tandem
