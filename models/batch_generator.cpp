// batch_generator.cpp: the LibTorch side of batch_generator.hpp: row
// bookkeeping for continuous batching and device-side sampling around
// internal::fast_decoder.
//
// Host synchronisation: one per step, in record() (the tokens and their
// log-probs come down together). The step's uniforms go up before the
// forward, from page-locked memory, so the host queues the forward and the
// draw without waiting in between.

#include "models/batch_generator.hpp"

#include <cmath>
#include <deque>
#include <random>
#include <utility>

#include <c10/util/accumulate.h>

#include "models/internal/device_precision.hpp"
#include "models/internal/fast_decoder.hpp"
#include "models/internal/transformer.hpp"
#include "models/prompt_groups.hpp"
#include "runtime/error.hpp"

#ifdef TANDEM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#endif

#include "models/device_name.hpp"

namespace tandem {

namespace {

caf::error backend_error(const char* where, const std::exception& e) {
  return make_error(errc::backend_failure, std::string(where) + ": " + e.what());
}

caf::expected<torch::ScalarType> parse_dtype(const std::string& s) {
  if (s == "float32")
    return torch::kFloat;
  if (s == "bfloat16")
    return torch::kBFloat16;
  if (s == "float16")
    return torch::kHalf;
  return make_error(errc::invalid_argument,
                    "dtype '" + s + "': expected float32, bfloat16 or float16");
}

/// Waits for the work queued on `d`'s current stream, the one the decoder
/// runs on; not for the whole device, where a weight receive may be running
/// on a stream of its own.
void wait_for_stream(const torch::Device& d) {
#ifdef TANDEM_WITH_CUDA
  if (d.is_cuda())
    c10::cuda::getCurrentCUDAStream(d.has_index() ? d.index() : c10::cuda::current_device())
      .synchronize();
#else
  (void)d;
#endif
}

} // namespace

caf::error check_device(const device_options& o) {
  if (o.max_rows < 1)
    return make_error(errc::invalid_argument, "max_rows must be >= 1");
  if (auto d = parse_dtype(o.dtype); !d)
    return d.error();
  if (o.device == "cpu")
    return caf::none;
  if (o.device.rfind("cuda", 0) != 0)
    return make_error(errc::invalid_argument,
                      "device '" + o.device + "': expected cpu, cuda or cuda:N");
#ifdef TANDEM_WITH_CUDA
  if (!torch::cuda::is_available())
    return make_error(errc::backend_failure, "device '" + o.device + "': no CUDA GPU visible");
  return caf::none;
#else
  return make_error(errc::invalid_argument, "device '" + o.device
                                         + "': this build has no CUDA (TANDEM_WITH_CUDA=OFF)");
#endif
}

std::string device_model_name(const std::string& device) {
#ifdef TANDEM_WITH_CUDA
  if (auto index = cuda_index(device); index && torch::cuda::is_available())
    return at::cuda::getDeviceProperties(*index)->name;
#endif
  return device == "cpu" ? "cpu" : device;
}

class batch_generator::impl {
public:
  impl(policy& owner, const device_options& o, torch::ScalarType dtype)
    : owner_(owner),
      cfg_(owner.config()),
      device_(o.device),
      decoder_(cfg_, device_, dtype, o.max_rows, cfg_.max_seq_len),
      row_seq_(static_cast<size_t>(o.max_rows), -1),
      shared_prefill_(o.shared_prefill) {
    if (auto err = sync())
      throw std::runtime_error(describe(err));
    if (o.fused_kernels)
      kernels_ = decoder_.enable_kernels();
    if (o.cuda_graphs)
      graph_ = decoder_.enable_graph();
    // Page-locked on CUDA, so the copies to and from them can be queued
    // without waiting (see uniforms() and record()).
    auto host = torch::TensorOptions().pinned_memory(device_.is_cuda());
    host_u_ = torch::empty({o.max_rows}, host.dtype(torch::kFloat));
    host_tokens_ = torch::empty({o.max_rows}, host.dtype(torch::kLong));
    host_logp_ = torch::empty({o.max_rows}, host.dtype(torch::kFloat));
  }

  caf::error sync() { return load_blob(owner_.export_weights()); }

  /// Blob layout (names and shapes in export order), learned once from a
  /// staging module of the same config.
  void learn_layout() {
    internal::transformer staging(cfg_);
    for (const auto& item : staging->named_parameters(true))
      layout_.emplace_back(item.key(), item.value().sizes().vec());
  }

  int64_t layout_elements() {
    if (layout_.empty())
      learn_layout();
    int64_t total = 0;
    for (auto& [name, shape] : layout_)
      total += c10::multiply_integers(shape);
    return total;
  }

  caf::error load_blob(const std::vector<char>& blob) {
    auto total = layout_elements();
    if (blob.size() != static_cast<size_t>(total) * sizeof(float))
      return make_error(errc::malformed_message,
                        "weights: blob of " + std::to_string(blob.size()) + " bytes, expected "
                          + std::to_string(total * 4));
    torch::NoGradGuard no_grad;
    auto flat = torch::from_blob(const_cast<char*>(blob.data()), {total}, torch::kFloat).to(device_);
    return install(flat);
  }

  /// The staging buffer a transport writes one version into (made once).
  flat_weights receive_buffer() {
    auto total = layout_elements();
    if (!staging_.defined())
      staging_ = torch::zeros({total}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
    internal::synchronize(device_); // the last install's copies out of it are done
    return {staging_.data_ptr(), static_cast<size_t>(total) * sizeof(float),
            staging_.is_cuda() ? static_cast<int>(staging_.get_device()) : -1};
  }

  caf::error install_received() {
    if (!staging_.defined())
      return make_error(errc::not_ready, "weights: no receive buffer");
    torch::NoGradGuard no_grad;
    return install(staging_);
  }

  /// Checks `flat` (float32, export order, on the device) and copies it into
  /// the decoder; all or nothing.
  caf::error install(const torch::Tensor& flat) {
    if (!torch::isfinite(flat).all().item<bool>())
      return make_error(errc::malformed_message, "weights: non-finite value; version refused");
    std::map<std::string, torch::Tensor> views;
    int64_t at = 0;
    for (auto& [name, shape] : layout_) {
      auto n = c10::multiply_integers(shape);
      views[name] = flat.narrow(0, at, n).view(shape);
      at += n;
    }
    decoder_.load(views);
    return caf::none;
  }

  caf::error start(std::vector<std::vector<int32_t>> prompts, sampling_params params,
                   std::vector<uint64_t> seeds);
  caf::error step(int64_t version);
  bool done() const { return pending_.empty() && running_ == 0; }
  int64_t generated() const { return generated_; }
  bool graph() const { return graph_; }
  bool kernels() const { return kernels_; }
  prefill_counts counts() const { return counts_; }
  const model_config& config() const { return cfg_; }
  std::vector<generated_sequence> take() { return std::move(results_); }
  std::vector<float> forced(const std::vector<int32_t>& ids, size_t prefill);

private:
  void refill(int64_t version);
  torch::Tensor prefill(const std::vector<int64_t>& rows,
                        const std::vector<std::vector<int32_t>>& prompts);
  void decode(int64_t version);
  torch::Tensor uniforms(const std::vector<int64_t>& seqs);
  torch::Tensor draw(const torch::Tensor& logp, const torch::Tensor& target);
  bool fused_draw() const;
  std::pair<torch::Tensor, torch::Tensor> sample(const torch::Tensor& logits,
                                                 const torch::Tensor& target);
  void record(const std::vector<int64_t>& rows, const torch::Tensor& tokens,
              const torch::Tensor& token_logp, int64_t version);

  policy& owner_;
  model_config cfg_;
  torch::Device device_;
  internal::fast_decoder decoder_;
  std::vector<std::pair<std::string, std::vector<int64_t>>> layout_;
  torch::Tensor staging_; // receive_buffer(): one version, made on first use
  bool graph_ = false;
  bool kernels_ = false;
  sampling_params params_;
  std::vector<std::mt19937_64> rngs_; // one per prompt, seeded by start()
  std::vector<std::vector<int32_t>> prompts_;
  // Prompt indices not yet in a row: bounded by the batch start() was given
  // (the sampler's request, itself bounded by groups_per_request).
  std::deque<int64_t> pending_;
  std::vector<int64_t> row_seq_;  // prompt index per row, -1 = free
  int64_t running_ = 0;
  std::vector<char> is_stop_;
  std::vector<generated_sequence> results_;
  torch::Tensor last_;            // int64 [R] on the device: next decode input
  // Host staging of one step's uniforms (up) and tokens and log-probs
  // (down), [R] each. Reused every step: record() waits for the stream,
  // so a step's copies are done before the next step writes them again.
  torch::Tensor host_u_, host_tokens_, host_logp_;
  int64_t generated_ = 0;
  bool shared_prefill_;
  prefill_counts counts_;
};

caf::error batch_generator::impl::start(std::vector<std::vector<int32_t>> prompts,
                                        sampling_params params, std::vector<uint64_t> seeds) {
  if (auto err = validate_generation(cfg_, prompts, params))
    return err;
  if (seeds.size() != prompts.size())
    return make_error(errc::invalid_argument, "generation: " + std::to_string(seeds.size())
                                                + " seeds for " + std::to_string(prompts.size())
                                                + " prompts (one per prompt)");
  params_ = std::move(params);
  is_stop_.assign(static_cast<size_t>(cfg_.vocab_size), 0);
  for (auto t : params_.stop_tokens) // in range: validate_generation checked them
    is_stop_[static_cast<size_t>(t)] = 1;
  rngs_.clear();
  for (auto s : seeds)
    rngs_.emplace_back(s);
  prompts_ = std::move(prompts);
  results_.assign(prompts_.size(), {});
  pending_.clear();
  for (size_t i = 0; i < prompts_.size(); ++i)
    pending_.push_back(static_cast<int64_t>(i));
  std::fill(row_seq_.begin(), row_seq_.end(), -1);
  running_ = 0;
  generated_ = 0;
  last_ = torch::zeros({decoder_.rows()}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  return caf::none;
}

// One uniform per row from the generator of the prompt in that row (`seqs`:
// prompt index per row, -1 = idle row, which draws nothing), so a
// sequence's tokens depend on its own seed only. Drawn and queued for the
// device before the forward that needs them, so the upload does not stall
// the host between the forward and the draw.
torch::Tensor batch_generator::impl::uniforms(const std::vector<int64_t>& seqs) {
  const auto n = static_cast<int64_t>(seqs.size());
  auto host = host_u_.narrow(0, 0, n);
  float* u = host.data_ptr<float>();
  for (size_t i = 0; i < seqs.size(); ++i)
    u[i] = seqs[i] < 0 ? 0.0f
                       : static_cast<float>((rngs_[static_cast<size_t>(seqs[i])]() >> 11)
                                            * 0x1.0p-53);
  return device_.is_cuda() ? host.to(device_, /*non_blocking=*/true) : host.clone();
}

// Inverse-CDF draw: row i takes the token where the (cut) CDF passes
// target[i] times its total.
torch::Tensor batch_generator::impl::draw(const torch::Tensor& logp,
                                          const torch::Tensor& target) {
  const auto n = logp.size(0);
  const auto v = logp.size(1);
  auto probs = logp.exp();
  torch::Tensor order;
  const bool top_k = params_.top_k > 0 && params_.top_k < v;
  if (top_k || params_.top_p < 1.0) {
    // Top-k: the k most probable tokens, sorted (as topk returns them).
    auto sorted = top_k ? probs.topk(params_.top_k, -1) : probs.sort(-1, true);
    probs = std::get<0>(sorted);
    order = std::get<1>(sorted);
  }
  const auto kept = probs.size(1);
  auto limit = torch::full({n}, kept - 1, torch::TensorOptions().dtype(torch::kLong).device(device_));
  if (params_.top_p < 1.0) {
    // Top-p on what top-k kept: its mass relative to the kept total.
    auto before = probs.cumsum(-1) - probs;
    auto keep = top_k ? before < params_.top_p * probs.sum(-1, /*keepdim=*/true)
                      : before < params_.top_p;
    probs = probs * keep.to(torch::kFloat);
    limit = keep.sum(-1).to(torch::kLong) - 1;
  }
  auto cdf = probs.cumsum(-1);
  auto idx = (cdf < (target * cdf.select(1, kept - 1)).unsqueeze(1)).sum(-1).to(torch::kLong);
  idx = torch::min(idx, limit);
  return order.defined() ? order.gather(1, idx.unsqueeze(1)).squeeze(1) : idx;
}

// `token_logp`: float32 [n], each row's log-prob of its token.
void batch_generator::impl::record(const std::vector<int64_t>& rows, const torch::Tensor& tokens,
                                   const torch::Tensor& token_logp, int64_t version) {
  // Both copies queued, then one wait: the step's only host synchronisation.
  const auto n = tokens.size(0);
  auto tk = host_tokens_.narrow(0, 0, n);
  auto lp = host_logp_.narrow(0, 0, n);
  const bool async = device_.is_cuda();
  tk.copy_(tokens, async);
  lp.copy_(token_logp, async);
  wait_for_stream(device_);
  const int64_t* t = tk.data_ptr<int64_t>();
  const float* l = lp.data_ptr<float>();
  for (size_t i = 0; i < rows.size(); ++i) {
    auto row = rows[i];
    auto seq = row_seq_[static_cast<size_t>(row)];
    if (seq < 0)
      continue; // an idle row computed along; nothing to record
    auto& r = results_[static_cast<size_t>(seq)];
    r.tokens.push_back(static_cast<int32_t>(t[i]));
    r.logprobs.push_back(l[i]);
    r.versions.push_back(version);
    ++generated_;
    r.finished = is_stop_[static_cast<size_t>(t[i])] != 0
                 || (params_.stop_after && params_.stop_after(r.tokens));
    if (r.finished || static_cast<int32_t>(r.tokens.size()) >= params_.max_new_tokens) {
      row_seq_[static_cast<size_t>(row)] = -1;
      --running_;
    }
  }
}

// Prefills waiting prompts into free rows; their first token comes from it.
void batch_generator::impl::refill(int64_t version) {
  std::vector<int64_t> rows, seqs;
  std::vector<std::vector<int32_t>> prompts;
  for (size_t r = 0; r < row_seq_.size() && !pending_.empty(); ++r) {
    if (row_seq_[r] >= 0)
      continue;
    row_seq_[r] = pending_.front();
    pending_.pop_front();
    ++running_;
    rows.push_back(static_cast<int64_t>(r));
    seqs.push_back(row_seq_[r]);
    prompts.push_back(prompts_[static_cast<size_t>(row_seq_[r])]);
  }
  if (rows.empty())
    return;
  auto target = uniforms(seqs);
  auto [tokens, token_logp] = sample(prefill(rows, prompts), target);
  auto idx = torch::tensor(rows, torch::TensorOptions().dtype(torch::kLong)).to(device_);
  last_.index_put_({idx}, tokens);
  record(rows, tokens, token_logp, version);
}

// Prefills `prompts` into `rows`; returns the last-position logits per row.
// With shared prefill the forward runs once per distinct prompt, in its
// first row, and the other rows copy that row's cache and logits: the same
// values a prefill of their own would give, up to the rounding of a smaller
// batch.
torch::Tensor batch_generator::impl::prefill(const std::vector<int64_t>& rows,
                                             const std::vector<std::vector<int32_t>>& prompts) {
  auto g = shared_prefill_ ? group_prompts(prompts) : distinct_rows(prompts.size());
  std::vector<int64_t> lead, from, to;
  std::vector<std::vector<int32_t>> distinct;
  int64_t slots = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (g.leads(i)) {
      lead.push_back(rows[i]);
      distinct.push_back(prompts[i]);
      counts_.forward_tokens += static_cast<int64_t>(prompts[i].size());
    } else {
      from.push_back(rows[g.first[g.of[i]]]);
      to.push_back(rows[i]);
      slots = std::max<int64_t>(slots, static_cast<int64_t>(prompts[i].size()));
    }
  }
  counts_.rows += static_cast<int64_t>(rows.size());
  counts_.forward_rows += static_cast<int64_t>(lead.size());
  auto logits = decoder_.prefill(lead, distinct);
  if (to.empty())
    return logits;
  decoder_.fork_rows(from, to, slots);
  std::vector<int64_t> of(g.of.begin(), g.of.end());
  auto idx = torch::tensor(of, torch::TensorOptions().dtype(torch::kLong)).to(device_);
  return logits.index_select(0, idx);
}

// The fused draw covers sampling from the full distribution; top-k and
// top-p sort, which stays with LibTorch (draw()).
bool batch_generator::impl::fused_draw() const {
  return kernels_ && params_.top_p >= 1.0 && (params_.top_k <= 0 || params_.top_k >= cfg_.vocab_size);
}

// One token per row of `logits` at the uniforms `target`, and its log-prob.
std::pair<torch::Tensor, torch::Tensor> batch_generator::impl::sample(const torch::Tensor& logits,
                                                                      const torch::Tensor& target) {
  if (fused_draw())
    return decoder_.sample(logits, target, params_.temperature);
  auto logp = torch::log_softmax(logits.to(torch::kFloat) / params_.temperature, -1);
  auto tokens = draw(logp, target);
  return {tokens, logp.gather(1, tokens.unsqueeze(1)).squeeze(1)};
}

void batch_generator::impl::decode(int64_t version) {
  auto target = uniforms(row_seq_);
  auto [tokens, token_logp] = sample(decoder_.decode_raw(last_), target);
  last_.copy_(tokens);
  std::vector<int64_t> rows(row_seq_.size());
  for (size_t r = 0; r < rows.size(); ++r)
    rows[r] = static_cast<int64_t>(r);
  record(rows, tokens, token_logp, version);
}

std::vector<float> batch_generator::impl::forced(const std::vector<int32_t>& ids,
                                                size_t prefill) {
  c10::InferenceMode inference;
  pending_.clear();
  std::fill(row_seq_.begin(), row_seq_.end(), -1);
  running_ = 0;
  std::vector<int32_t> head(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(prefill));
  std::vector<torch::Tensor> rows{decoder_.prefill({0}, {head})};
  auto tokens = torch::zeros({decoder_.rows()}, torch::TensorOptions().dtype(torch::kLong));
  for (size_t t = prefill; t < ids.size(); ++t) {
    tokens[0] = static_cast<int64_t>(ids[t]);
    rows.push_back(decoder_.decode(tokens.to(device_)).narrow(0, 0, 1).clone());
  }
  auto all = torch::cat(rows, 0).to(torch::kCPU).contiguous();
  return {all.data_ptr<float>(), all.data_ptr<float>() + all.numel()};
}

caf::error batch_generator::impl::step(int64_t version) {
  if (done())
    return caf::none;
  try {
    c10::InferenceMode inference;
    // Rows that were running before this step decode; free rows are refilled
    // afterwards so that a new prompt's first token also counts as a step.
    if (running_ > 0)
      decode(version);
    refill(version);
    return caf::none;
  } catch (const std::exception& e) {
    return backend_error("batch_generator::step", e);
  }
}

batch_generator::batch_generator(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
batch_generator::~batch_generator() = default;

caf::expected<std::unique_ptr<batch_generator>> batch_generator::make(policy& model,
                                                                      device_options opts) {
  if (auto err = check_device(opts))
    return err;
  try {
    auto p = std::make_unique<impl>(model, opts, *parse_dtype(opts.dtype));
    return std::unique_ptr<batch_generator>(new batch_generator(std::move(p)));
  } catch (const std::exception& e) {
    return backend_error("batch_generator::make", e);
  }
}

caf::error batch_generator::sync_weights() {
  try {
    return impl_->sync();
  } catch (const std::exception& e) {
    return backend_error("batch_generator::sync_weights", e);
  }
}

caf::error batch_generator::load_weights(const std::vector<char>& blob) {
  try {
    return impl_->load_blob(blob);
  } catch (const std::exception& e) {
    return backend_error("batch_generator::load_weights", e);
  }
}

caf::expected<flat_weights> batch_generator::receive_buffer() {
  try {
    return impl_->receive_buffer();
  } catch (const std::exception& e) {
    return backend_error("batch_generator::receive_buffer", e);
  }
}

caf::error batch_generator::install_received() {
  try {
    return impl_->install_received();
  } catch (const std::exception& e) {
    return backend_error("batch_generator::install_received", e);
  }
}

caf::error batch_generator::start(std::vector<std::vector<int32_t>> prompts,
                                  sampling_params params, std::vector<uint64_t> seeds) {
  return impl_->start(std::move(prompts), std::move(params), std::move(seeds));
}

caf::error batch_generator::step(int64_t version) { return impl_->step(version); }
bool batch_generator::done() const { return impl_->done(); }
int64_t batch_generator::tokens_generated() const { return impl_->generated(); }
bool batch_generator::graph_enabled() const { return impl_->graph(); }
bool batch_generator::kernels_enabled() const { return impl_->kernels(); }
prefill_counts batch_generator::prefill_stats() const { return impl_->counts(); }
std::vector<generated_sequence> batch_generator::take_results() { return impl_->take(); }

caf::expected<std::vector<float>> batch_generator::forced_logits(const std::vector<int32_t>& ids,
                                                                 size_t prefill) {
  const auto& cfg = impl_->config();
  if (prefill < 1 || prefill > ids.size() || ids.size() > static_cast<size_t>(cfg.max_seq_len))
    return make_error(errc::invalid_argument,
                      "forced_logits: need 1 <= prefill <= ids <= max_seq_len");
  for (auto t : ids)
    if (t < 0 || t >= cfg.vocab_size)
      return make_error(errc::invalid_argument, "forced_logits: token out of range");
  try {
    return impl_->forced(ids, prefill);
  } catch (const std::exception& e) {
    return backend_error("batch_generator::forced_logits", e);
  }
}

} // namespace tandem
