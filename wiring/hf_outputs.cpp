// hf_outputs.cpp: the run's Hugging Face copies (see hf_outputs.hpp).
#include "wiring/hf_outputs.hpp"

#include "runtime/error.hpp"
#include "wiring/components.hpp"

namespace tandem {

caf::expected<std::shared_ptr<const hf_exporter>> make_hf_exporter(const run_config& cfg) {
  if (cfg.hf_path.empty())
    return std::shared_ptr<const hf_exporter>{};
  auto e = hf_exporter::make({policy_model(cfg), cfg.hf_path, cfg.task.tokenizer_path});
  if (!e)
    return e.error();
  return std::shared_ptr<const hf_exporter>{std::make_shared<hf_exporter>(std::move(*e))};
}

checkpoint_hook hf_checkpoint_hook(std::shared_ptr<const hf_exporter> exporter,
                                   std::shared_ptr<file_system> fs) {
  if (!exporter)
    return {};
  return [exporter, fs](const std::string& dir, const std::vector<checkpoint_file>& files) {
    for (const auto& f : files)
      if (f.name == "weights.bin") {
        if (auto err = exporter->write(*fs, f.bytes, join_path(dir, "hf")))
          return make_error(errc::io_failure, "Hugging Face copy: " + describe(err));
        return caf::error{};
      }
    return make_error(errc::invalid_argument, "Hugging Face copy: no weights.bin");
  };
}

caf::error write_final_hf(const hf_exporter& exporter, file_system& fs,
                          const std::string& run_dir, const std::vector<char>& weights) {
  return exporter.write(fs, weights, join_path(run_dir, "hf"));
}

} // namespace tandem
