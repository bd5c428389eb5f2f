// eval_decoder.cpp: eval_decoder (actors/backends.hpp) on the LibTorch
// policy: decode_session on the CPU, batch_generator on a device. Torch-free
// itself, like torch_backends.cpp: the torch code is behind models/.
#include "actors/backends.hpp"

namespace tandem {

namespace {

/// Steps `s` (decode_session or batch_generator) until every sequence ended.
template <class Session>
caf::expected<std::vector<generated_sequence>> run_to_end(Session& s, int64_t version) {
  while (!s.done())
    if (auto err = s.step(version))
      return err;
  return s.take_results();
}

class torch_eval_decoder : public eval_decoder {
public:
  torch_eval_decoder(std::unique_ptr<policy> p, std::unique_ptr<batch_generator> g,
                     int32_t threads)
    : policy_(std::move(p)), gen_(std::move(g)), threads_(threads) {}

  caf::error load_weights(const std::vector<char>& blob) override {
    if (gen_)
      return gen_->load_weights(blob);
    return policy_->import_weights(blob.data(), blob.size());
  }

  caf::expected<std::vector<generated_sequence>>
  generate(std::vector<std::vector<int32_t>> prompts, const sampling_params& params,
           std::vector<uint64_t> seeds, int64_t version) override {
    if (threads_ > 0) { // LibTorch's pools are per calling thread
      policy::set_threads(threads_);
      threads_ = 0;
    }
    if (gen_) {
      if (auto err = gen_->start(std::move(prompts), params, std::move(seeds)))
        return err;
      return run_to_end(*gen_, version);
    }
    auto s = decode_session::start(*policy_, std::move(prompts), params, std::move(seeds));
    if (!s)
      return s.error();
    return run_to_end(**s, version);
  }

  const model_config& config() const override { return policy_->config(); }

private:
  std::unique_ptr<policy> policy_; // the CPU model, or the generator's source
  std::unique_ptr<batch_generator> gen_; // null on the CPU
  int32_t threads_;
};

} // namespace

caf::expected<std::shared_ptr<eval_decoder>>
make_torch_eval_decoder(std::unique_ptr<policy> model, int32_t threads,
                        const device_options& device) {
  if (!model)
    return make_error(errc::invalid_argument, "make_torch_eval_decoder: no model");
  std::unique_ptr<batch_generator> gen;
  if (device.device != "cpu") {
    policy::set_threads(threads);
    auto g = batch_generator::make(*model, device);
    if (!g)
      return g.error();
    gen = std::move(*g);
  }
  return std::shared_ptr<eval_decoder>{
    new torch_eval_decoder(std::move(model), std::move(gen), threads)};
}

} // namespace tandem
