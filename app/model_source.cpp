// model_source.cpp: CHECKPOINT of `tandem generate` / `tandem eval` (see
// model_source.hpp).
#include "app/model_source.hpp"

#include <filesystem>
#include <iostream>
#include <sstream>

#include "runtime/checkpoint_store.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "runtime/json_reader.hpp"
#include "topology/config_loader.hpp"
#include "wiring/components.hpp"

namespace tandem {

namespace {

namespace stdfs = std::filesystem;

bool is_file(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::is_regular_file(p, ec);
}

bool is_dir(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::is_directory(p, ec);
}

caf::expected<loaded_checkpoint> load_step_dir(const stdfs::path& dir) {
  const auto name = dir.filename().string();
  auto step = name.rfind("step-", 0) == 0 ? parse_integer(name.substr(5)) : std::nullopt;
  if (!step || *step < 0)
    return make_error(errc::invalid_argument, dir.string() + " holds a manifest.json but is not "
                                                             "named step-NNNNNNNN");
  return checkpoint_store(real_file_system(), dir.parent_path().string()).load(*step);
}

caf::expected<loaded_checkpoint> load_newest(const stdfs::path& run_dir) {
  std::vector<std::string> skipped;
  auto ck = checkpoint_store(real_file_system(), (run_dir / "checkpoints").string())
              .load_newest(&skipped);
  for (const auto& s : skipped)
    std::cerr << "skipping checkpoint " << s << "\n";
  return ck;
}

/// The policy of checkpoint `ck`, built as its run built it.
caf::expected<model_source> from_checkpoint(loaded_checkpoint ck) {
  auto cfg = load_run_config_or_error(ck.dir + "/config.yaml");
  if (!cfg)
    return cfg.error();
  auto w = ck.files.find("weights.bin");
  if (w == ck.files.end())
    return make_error(errc::malformed_message, ck.dir + ": no weights.bin");
  // The checkpoint's own copy when it has one (the input may have moved).
  const auto own = stdfs::path(ck.dir) / "hf";
  const auto hf = is_file(own / "config.json") ? own.string() : cfg->hf_path;
  auto p = cfg->hf_path.empty() ? policy::make(policy_model(*cfg), cfg->run.seed)
                                : policy::load_hf(hf, {cfg->model.max_seq_len});
  if (!p)
    return p.error();
  if (auto err = (*p)->import_weights(w->second.data(), w->second.size()))
    return make_error(errc::malformed_message, ck.dir + "/weights.bin: " + describe(err));
  model_source out;
  out.model = std::move(*p);
  out.run = std::move(*cfg);
  out.version = ck.step;
  out.what = ck.dir;
  return out;
}

caf::expected<model_source> from_hf_dir(const stdfs::path& dir, int32_t max_seq_len) {
  model_source out;
  const auto parent_config = dir.parent_path() / "config.yaml";
  if (is_file(parent_config)) { // RUN_DIR/hf or a checkpoint's hf/
    auto cfg = load_run_config_or_error(parent_config.string());
    if (!cfg)
      return cfg.error();
    max_seq_len = cfg->model.max_seq_len;
    out.run = std::move(*cfg);
  }
  auto p = policy::load_hf(dir.string(), {max_seq_len});
  if (!p)
    return p.error();
  out.model = std::move(*p);
  out.hf_dir = dir.string();
  out.what = dir.string();
  return out;
}

} // namespace

caf::expected<model_source> load_model_source(const std::string& path, int32_t hf_max_seq_len) {
  const stdfs::path dir(path);
  if (is_file(dir / checkpoint_store::manifest_name)) {
    auto ck = load_step_dir(dir);
    if (!ck)
      return ck.error();
    return from_checkpoint(std::move(*ck));
  }
  if (is_dir(dir / "checkpoints")) {
    auto ck = load_newest(dir);
    if (!ck)
      return ck.error();
    return from_checkpoint(std::move(*ck));
  }
  if (is_file(dir / "config.json"))
    return from_hf_dir(dir, hf_max_seq_len);
  return make_error(errc::invalid_argument,
                    path + " is not a checkpoint (step-N with manifest.json), a run directory "
                           "(with checkpoints/) or a Hugging Face directory (with config.json)");
}

bool is_bare_hf_dir(const std::string& path) {
  const stdfs::path dir(path);
  return is_file(dir / "config.json") && !is_file(dir / checkpoint_store::manifest_name)
         && !is_dir(dir / "checkpoints") && !is_file(dir.parent_path() / "config.yaml");
}

caf::expected<std::optional<double>> optional_number(const command_line& cl,
                                                     const std::string& flag, double min,
                                                     double max, bool integer) {
  if (!cl.given(flag))
    return std::optional<double>{};
  const auto& text = cl.value(flag);
  auto x = integer ? (parse_integer(text) ? std::optional<double>(double(*parse_integer(text)))
                                          : std::nullopt)
                   : parse_number(text);
  if (!x || *x < min || *x > max) {
    std::ostringstream range;
    range << "[" << min << ", " << max << "]";
    return make_error(errc::invalid_argument, flag + ": '" + text + "' is not "
                                                + (integer ? "an integer" : "a number")
                                                + " in " + range.str());
  }
  return x;
}

std::string hf_eos_token(const std::string& hf_dir) {
  auto doc = read_json_file(hf_dir + "/tokenizer_config.json", {false, errc::malformed_message});
  const auto* eos = doc ? doc->find("eos_token") : nullptr;
  if (eos == nullptr)
    return {};
  if (const auto* s = eos->as_string())
    return *s;
  const auto* c = eos->find("content");
  return c != nullptr && c->as_string() != nullptr ? *c->as_string() : std::string();
}

} // namespace tandem
