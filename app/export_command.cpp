// export_command.cpp: `tandem export RUN_DIR --out DIR [--step N]` — the
// policy of a run's checkpoint as a Hugging Face directory (config.json +
// model.safetensors, float32), for transformers, an inference server or
// `tandem logits --model DIR`.
//
// It loads the newest valid checkpoint of RUN_DIR/checkpoints (invalid newer
// ones named on stderr and skipped, as a resume does), or step N, which must
// verify; reads the effective config that checkpoint was written under (its
// config.yaml); builds the learner's model on the CPU as the run did
// (model.hf_path's checkpoint, or the seeded shape of a run from random
// init); installs the checkpoint's weights (weights.bin) and writes them
// with learner_core::save_hf, which writes config.json from the model's
// shape and family (Llama, Qwen2, Qwen3, Mistral). Beside it go the run's tokenizer files: those of
// model.hf_path's directory (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, vocab.json, merges.txt, added_tokens.json,
// generation_config.json), with task.tokenizer, the one the run encoded
// with, as tokenizer.json when it is set. A run that used the built-in
// character tokenizer has no Hugging Face tokenizer to copy: the weights are
// exported and stderr says so (token ids are the character tokenizer's).
//
// DIR is written as a sibling temporary directory, then renamed: a failure
// leaves no half-written DIR. A DIR that exists and is not empty is refused.
//
// Exit: 0 written; 1 failed (a damaged step N, I/O, the model); 2 bad usage:
// RUN_DIR holds no checkpoints, no such step, no valid checkpoint, a bad
// checkpoint config, DIR not empty.
//
// Thread safety: a command; one thread.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <system_error>

#include <unistd.h>

#include "app/commands.hpp"
#include "models/learner_core.hpp"
#include "runtime/checkpoint_store.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "topology/config_loader.hpp"
#include "topology/run_config.hpp"
#include "wiring/components.hpp"

namespace tandem {

namespace {

namespace stdfs = std::filesystem;

/// A failure and the exit code it means.
struct failure {
  int code;
  std::string what;
};

command_line export_flags() {
  command_line cl("tandem export RUN_DIR --out DIR [--step N]",
                  "write a checkpoint's policy as a Hugging Face directory (config.json + "
                  "model.safetensors, float32, and the run's tokenizer files)");
  cl.positional("RUN_DIR", "the run's output directory (tandem run --output)");
  cl.text("--out", "DIR", "the directory to write (created; must not exist or be empty)");
  cl.text("--step", "N", "the checkpoint of this step (default: the newest valid one)");
  return cl;
}

caf::expected<loaded_checkpoint> load_checkpoint(const std::string& run_dir,
                                                 const command_line& cl) {
  checkpoint_store store(real_file_system(), run_dir + "/checkpoints");
  if (cl.given("--step")) {
    auto step = parse_integer(cl.value("--step"));
    if (!step || *step < 0)
      return make_error(errc::invalid_argument,
                        "--step '" + cl.value("--step") + "': expected a step number >= 0");
    return store.load(*step);
  }
  std::vector<std::string> skipped;
  auto ck = store.load_newest(&skipped);
  for (const auto& s : skipped)
    std::cerr << "skipping checkpoint " << s << "\n";
  return ck;
}

/// The run's learner model on the CPU, holding the checkpoint's weights.
caf::expected<std::unique_ptr<learner_core>> policy_of(const run_config& cfg,
                                                       const loaded_checkpoint& ck) {
  auto ls = make_learner_settings(cfg);
  ls.model = policy_model(cfg);
  ls.device = "cpu"; // the run's device may be absent here; the weights are float32
  ls.precision = "float32";
  ls.micro_batch_tokens = 0;
  ls.activation_checkpointing = false;
  ls.grpo.kl_beta = 0; // no reference copy: nothing is trained
  ls.ranks = 1;        // one copy of the weights, whatever learner.ranks trained them
  ls.zero_stage = 0;
  auto core = cfg.hf_path.empty()
                ? learner_core::make(ls)
                : learner_core::make_from_hf(ls, cfg.hf_path, {cfg.model.max_seq_len});
  if (!core)
    return core.error();
  auto w = ck.files.find("weights.bin");
  if (w == ck.files.end())
    return make_error(errc::malformed_message, ck.dir + ": no weights.bin");
  if (auto err = (*core)->import_weights(w->second.data(), w->second.size(), ck.step))
    return make_error(errc::malformed_message, ck.dir + "/weights.bin: " + describe(err));
  return core;
}

/// Copies the run's tokenizer files into `dir`; the names copied. The
/// tokenizer.json is the one the run encoded with: task.tokenizer when set,
/// else model.hf_path's.
caf::expected<std::vector<std::string>> copy_tokenizer(const run_config& cfg,
                                                       const std::string& dir) {
  std::vector<std::pair<stdfs::path, std::string>> files;
  if (!cfg.task.tokenizer_path.empty())
    files.emplace_back(cfg.task.tokenizer_path, "tokenizer.json");
  std::error_code ec;
  if (!cfg.hf_path.empty())
    for (const char* name : {"tokenizer.json", "tokenizer_config.json",
                             "special_tokens_map.json", "vocab.json", "merges.txt",
                             "added_tokens.json", "generation_config.json"})
      if ((files.empty() || files.front().second != name)
          && stdfs::is_regular_file(stdfs::path(cfg.hf_path) / name, ec))
        files.emplace_back(stdfs::path(cfg.hf_path) / name, name);
  std::vector<std::string> copied;
  for (const auto& [from, name] : files) {
    stdfs::copy_file(from, stdfs::path(dir) / name, stdfs::copy_options::overwrite_existing, ec);
    if (ec)
      return make_error(errc::io_failure, "cannot copy " + from.string() + ": " + ec.message());
    copied.push_back(name);
  }
  return copied;
}

/// Writes the directory next to `out`, then renames it into place.
caf::expected<std::vector<std::string>> write_export(const run_config& cfg,
                                                     const learner_core& policy,
                                                     const std::string& out) {
  const auto target = stdfs::absolute(out);
  const auto tmp = target.parent_path()
                   / ("." + target.filename().string() + ".tmp-export-"
                      + std::to_string(::getpid()));
  auto fs = real_file_system(); // remove_tree: see runtime/file_system.hpp
  fs->remove_tree(tmp.string());
  auto fail = [&](caf::error err) {
    fs->remove_tree(tmp.string());
    return err;
  };
  if (auto err = policy.save_hf(tmp.string()))
    return fail(err);
  auto copied = copy_tokenizer(cfg, tmp.string());
  if (!copied)
    return fail(copied.error());
  std::error_code ec;
  stdfs::rename(tmp, target, ec); // replaces an empty directory
  if (ec)
    return fail(make_error(errc::io_failure, "cannot rename " + tmp.string() + " to "
                                               + target.string() + ": " + ec.message()));
  return copied;
}

/// Everything but the flags; a failure carries its exit code.
std::optional<failure> run_export(const std::string& run_dir, const std::string& out,
                                  const command_line& cl) {
  std::error_code ec;
  if (!stdfs::is_directory(run_dir + "/checkpoints", ec))
    return failure{2, run_dir + " holds no checkpoints (no " + run_dir + "/checkpoints)"};
  if (stdfs::exists(out, ec) && !(stdfs::is_directory(out, ec) && stdfs::is_empty(out, ec)))
    return failure{2, "--out " + out + " exists and is not an empty directory"};
  auto ck = load_checkpoint(run_dir, cl);
  if (!ck)
    return failure{is(ck.error(), errc::not_found) || is(ck.error(), errc::invalid_argument)
                     ? 2 : 1, describe(ck.error())};
  auto cfg = load_run_config_or_error(ck->dir + "/config.yaml");
  if (!cfg)
    return failure{2, describe(cfg.error())};
  auto policy = policy_of(*cfg, *ck);
  if (!policy)
    return failure{1, describe(policy.error())};
  auto copied = write_export(*cfg, **policy, out);
  if (!copied)
    return failure{1, describe(copied.error())};
  std::cout << "exported " << ck->dir << " to " << out << ": config.json, model.safetensors";
  for (const auto& name : *copied)
    std::cout << ", " << name;
  std::cout << "\n";
  if (std::find(copied->begin(), copied->end(), "tokenizer.json") == copied->end())
    std::cerr << "tandem export: the run used tandem's built-in character tokenizer, which has "
                 "no Hugging Face form: " << out << " holds no tokenizer (token ids are the "
                 "character tokenizer's)\n";
  return std::nullopt;
}

} // namespace

int export_command(const args& a) {
  auto cl = export_flags();
  if (auto code = parse_or_exit(cl, a))
    return *code;
  if (!cl.given("--out")) {
    std::cerr << "tandem export: --out DIR is required\n";
    return 2;
  }
  if (auto f = run_export(cl.positionals()[0], cl.value("--out"), cl)) {
    std::cerr << "tandem export: " << f->what << "\n";
    return f->code;
  }
  return 0;
}

} // namespace tandem
