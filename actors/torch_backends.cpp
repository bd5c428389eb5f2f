// torch_backends.cpp: generation_backend / training_backend on top of the
// LibTorch policy (models/policy.hpp, models/learner_core.hpp). Torch-free
// itself: the torch code lives behind those headers.
#include "actors/backends.hpp"

#include "runtime/error.hpp"

namespace tandem {

namespace {

class torch_generation_backend : public generation_backend {
public:
  torch_generation_backend(std::unique_ptr<policy> p, sampling_params params,
                           int32_t threads)
    : policy_(std::move(p)), params_(std::move(params)), threads_(threads) {}

  caf::error load_weights(const std::vector<char>& blob) override {
    return policy_->import_weights(blob.data(), blob.size());
  }

  caf::error start(std::vector<std::vector<int32_t>> prompts,
                   std::vector<uint64_t> seeds) override {
    if (threads_ > 0) {
      policy::set_threads(threads_);
      threads_ = 0;
    }
    auto s = decode_session::start(*policy_, std::move(prompts), params_, std::move(seeds));
    if (!s)
      return s.error();
    session_ = std::move(*s);
    return caf::none;
  }

  caf::error step(int64_t version) override {
    if (!session_)
      return make_error(errc::not_ready, "step without a started batch");
    return session_->step(version);
  }

  bool done() const override { return !session_ || session_->done(); }

  std::vector<generated_sequence> take_results() override {
    if (!session_)
      return {};
    auto out = session_->take_results();
    session_.reset();
    return out;
  }

private:
  std::unique_ptr<policy> policy_;
  std::unique_ptr<decode_session> session_;
  sampling_params params_;
  int32_t threads_;
};

/// Decoding on a device (GPU): each weight version goes from the received
/// blob straight into the batch_generator's device copy, between two decode
/// steps.
class device_generation_backend : public generation_backend {
public:
  device_generation_backend(std::unique_ptr<policy> p, std::unique_ptr<batch_generator> g,
                            sampling_params params)
    : policy_(std::move(p)), gen_(std::move(g)), params_(std::move(params)) {}

  // Straight to the device: one upload, checked there; the CPU policy is
  // only the shape the generator was built from.
  caf::error load_weights(const std::vector<char>& blob) override {
    return gen_->load_weights(blob);
  }

  caf::error start(std::vector<std::vector<int32_t>> prompts,
                   std::vector<uint64_t> seeds) override {
    started_ = true;
    return gen_->start(std::move(prompts), params_, std::move(seeds));
  }

  caf::error step(int64_t version) override {
    if (!started_)
      return make_error(errc::not_ready, "step without a started batch");
    return gen_->step(version);
  }

  bool done() const override { return !started_ || gen_->done(); }

  std::vector<generated_sequence> take_results() override {
    if (!started_)
      return {};
    started_ = false;
    return gen_->take_results();
  }

  caf::expected<flat_weights> receive_buffer() override { return gen_->receive_buffer(); }
  caf::error install_received() override { return gen_->install_received(); }

private:
  std::unique_ptr<policy> policy_;
  std::unique_ptr<batch_generator> gen_;
  sampling_params params_;
  bool started_ = false;
};

class torch_training_backend : public training_backend {
public:
  torch_training_backend(std::unique_ptr<learner_core> core, int32_t threads)
    : core_(std::move(core)), threads_(threads) {}

  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override {
    if (threads_ > 0) {
      policy::set_threads(threads_);
      threads_ = 0;
    }
    return core_->train(batch);
  }

  std::vector<char> export_weights() const override { return core_->export_weights(); }
  int64_t version() const override { return core_->version(); }
  void set_phase_hook(std::function<void(learner_phase)> hook) override {
    core_->set_phase_hook(std::move(hook));
  }
  std::vector<char> export_state() const override { return core_->export_state(); }
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override {
    return core_->import_weights(blob.data(), blob.size(), version);
  }
  caf::error import_state(const std::vector<char>& state) override {
    return core_->import_state(state.data(), state.size());
  }
  caf::expected<flat_weights> device_weights() override {
    return core_->refresh_flat_weights();
  }

private:
  std::unique_ptr<learner_core> core_;
  int32_t threads_;
};

} // namespace

caf::expected<std::shared_ptr<generation_backend>>
make_torch_generation_backend(const model_config& model, const sampling_params& params,
                              int32_t threads, const device_options& device) {
  // The initial weights do not matter: a sampler generates only after it
  // received a version from the weight broadcaster.
  auto p = policy::make(model, 0);
  if (!p)
    return p.error();
  if (device.device == "cpu")
    return std::shared_ptr<generation_backend>{
      new torch_generation_backend(std::move(*p), params, threads)};
  policy::set_threads(threads);
  auto gen = batch_generator::make(**p, device);
  if (!gen)
    return gen.error();
  return std::shared_ptr<generation_backend>{
    new device_generation_backend(std::move(*p), std::move(*gen), params)};
}

caf::expected<std::shared_ptr<training_backend>>
make_torch_training_backend(const learner_settings& settings, int32_t threads) {
  auto core = learner_core::make(settings);
  if (!core)
    return core.error();
  return std::shared_ptr<training_backend>{
    new torch_training_backend(std::move(*core), threads)};
}

caf::expected<std::shared_ptr<training_backend>>
make_torch_training_backend_from_hf(const learner_settings& settings, const std::string& hf_dir,
                                    int32_t max_seq_len, int32_t threads) {
  hf_load_options opts;
  opts.max_seq_len = max_seq_len;
  auto core = learner_core::make_from_hf(settings, hf_dir, opts);
  if (!core)
    return core.error();
  return std::shared_ptr<training_backend>{
    new torch_training_backend(std::move(*core), threads)};
}

} // namespace tandem
