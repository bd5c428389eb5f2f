// policy.cpp: the LibTorch side of policy.hpp: weights, learner-equivalent
// scoring and the batched KV-cache decoder.
//
// Decode layout: prompts are left-padded to the longest prompt P, so that
// every row writes its next token into the same cache slot. Row b has pad_b
// leading pad slots; its rotary position is slot - pad_b (0 at its first real
// token) and pad slots are masked out as keys. Step 1 prefills slots [0, P)
// and samples the first token; each later step feeds the previous token at
// slot P + k - 2. Finished rows keep being computed (batched ops are cheaper
// than compacting the cache) but never record tokens again.
//
// Shared-prompt prefill (decode_options, docs/shared-prefill.md): step 1
// runs only the distinct prompts through the model, with the same padding P,
// and gathers their cache rows and last logits into every row that carries
// them, so a row sees the same keys, values and logits as if it had been
// prefilled itself.
//
// Sampling: logp = log_softmax(logits / temperature) over the full vocabulary
// is what gets recorded; top-k keeps the k most probable tokens, top-p then
// keeps the smallest prefix of the sorted (top-k) distribution whose mass
// reaches top_p of its total, and one uniform draw from the
// row's own mt19937_64 (seeded with its entry of start()'s seeds) picks a
// token: deterministic for a seed, whatever the other rows are.
//
// Thread safety: see policy.hpp (one thread at a time).

#include "models/policy.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "models/internal/transformer.hpp"
#include "models/prompt_groups.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

caf::error backend_error(const char* where, const std::exception& e) {
  return make_error(errc::backend_failure, std::string(where) + ": " + e.what());
}

} // namespace

class policy::impl {
public:
  explicit impl(const model_config& cfg) : model(cfg) {}
  internal::transformer model;
  int64_t num_parameters = 0;
};

// --- policy -------------------------------------------------------------------

policy::policy(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
policy::~policy() = default;

caf::expected<std::unique_ptr<policy>> policy::make(const model_config& cfg,
                                                    uint64_t seed) {
  if (auto err = internal::validate(cfg))
    return err;
  try {
    auto p = std::make_unique<impl>(cfg);
    p->model->init_weights(seed);
    p->num_parameters = internal::count_parameters(p->model);
    return std::unique_ptr<policy>(new policy(std::move(p)));
  } catch (const std::exception& e) {
    return backend_error("policy::make", e);
  }
}

caf::expected<std::unique_ptr<policy>> policy::load_hf(const std::string& dir,
                                                       const hf_load_options& opts) {
  auto cfg = read_hf_config(dir, opts);
  if (!cfg)
    return cfg.error();
  if (auto err = internal::validate(*cfg))
    return err;
  try {
    auto p = std::make_unique<impl>(*cfg);
    if (auto err = internal::load_hf(p->model, dir))
      return err;
    p->num_parameters = internal::count_parameters(p->model);
    return std::unique_ptr<policy>(new policy(std::move(p)));
  } catch (const std::exception& e) {
    return backend_error("policy::load_hf", e);
  }
}

caf::error policy::save_hf(const std::string& dir, uint64_t max_shard_bytes) const {
  try {
    return internal::save_hf(impl_->model, dir, max_shard_bytes);
  } catch (const std::exception& e) {
    return backend_error("policy::save_hf", e);
  }
}

caf::expected<std::vector<float>> policy::logits(const std::vector<int32_t>& ids) {
  const auto& cfg = config();
  if (ids.empty() || ids.size() > static_cast<size_t>(cfg.max_seq_len))
    return make_error(errc::invalid_argument, "logits: need 1.." + std::to_string(cfg.max_seq_len)
                                                + " tokens, got " + std::to_string(ids.size()));
  for (auto t : ids)
    if (t < 0 || t >= cfg.vocab_size)
      return make_error(errc::invalid_argument,
                        "logits: token " + std::to_string(t) + " outside the vocabulary");
  try {
    torch::NoGradGuard no_grad;
    const auto s = static_cast<int64_t>(ids.size());
    std::vector<int64_t> tok(ids.begin(), ids.end());
    auto tokens = torch::from_blob(tok.data(), {1, s}, torch::kLong).clone();
    auto positions = torch::arange(s, torch::kLong).unsqueeze(0);
    auto mask = internal::causal_mask(torch::ones({1, s}, torch::kBool));
    auto out = impl_->model->forward(tokens, positions, mask).contiguous();
    const float* data = out.data_ptr<float>();
    return std::vector<float>(data, data + out.numel());
  } catch (const std::exception& e) {
    return backend_error("policy::logits", e);
  }
}

const model_config& policy::config() const { return impl_->model->config(); }
int64_t policy::num_parameters() const { return impl_->num_parameters; }

std::vector<char> policy::export_weights() const {
  try {
    return internal::export_weights(impl_->model);
  } catch (const std::exception&) {
    return {}; // unreachable for CPU float tensors; an empty blob never imports
  }
}

caf::error policy::import_weights(const char* data, size_t size) {
  try {
    return internal::import_weights(impl_->model, data, size);
  } catch (const std::exception& e) {
    return backend_error("policy::import_weights", e);
  }
}

caf::expected<std::vector<std::vector<float>>>
policy::score(const std::vector<scored_input>& batch, double temperature) {
  if (!(temperature > 0) || !std::isfinite(temperature))
    return make_error(errc::invalid_argument, "score: temperature must be > 0");
  std::vector<internal::sequence_ref> rows;
  for (size_t i = 0; i < batch.size(); ++i) {
    rows.push_back({&batch[i].prompt, &batch[i].completion});
    if (auto err = internal::validate_row(config(), rows.back(), i))
      return err;
  }
  std::vector<std::vector<float>> out;
  if (rows.empty())
    return out;
  try {
    torch::NoGradGuard no_grad;
    auto packed = internal::pack(rows);
    auto logp = internal::score_completions(impl_->model, packed, temperature)
                  .logp.contiguous();
    const auto t = logp.size(1);
    const float* data = logp.data_ptr<float>();
    for (size_t i = 0; i < rows.size(); ++i)
      out.emplace_back(data + i * t, data + i * t + packed.completion_len[i]);
    return out;
  } catch (const std::exception& e) {
    return backend_error("policy::score", e);
  }
}

void policy::set_threads(int32_t n) {
  if (n > 0)
    at::set_num_threads(n);
}

policy::impl& policy::internals() { return *impl_; }
const policy::impl& policy::internals() const { return *impl_; }

// --- decode_session -----------------------------------------------------------

class decode_session::impl {
public:
  impl(policy& owner, std::vector<std::vector<int32_t>> prompts,
       sampling_params params, const std::vector<uint64_t>& seeds, decode_options opts)
    : owner_(owner),
      prompts_(std::move(prompts)),
      params_(std::move(params)),
      opts_(opts),
      rngs_(seeds.begin(), seeds.end()),
      results_(prompts_.size()),
      active_(prompts_.size(), 1),
      active_count_(static_cast<int64_t>(prompts_.size())) {
    is_stop_.assign(owner_.config().vocab_size, 0);
    for (auto t : params_.stop_tokens)
      is_stop_[t] = 1;
  }

  caf::error step(int64_t version);
  bool done() const { return active_count_ == 0; }
  int32_t steps() const { return steps_; }
  int64_t generated() const { return generated_; }
  prefill_counts counts() const { return counts_; }
  std::vector<generated_sequence> take() { return std::move(results_); }

private:
  internal::transformer& model() { return owner_.internals().model; }
  torch::Tensor prefill();
  torch::Tensor fork(const prompt_groups& g, internal::kv_cache distinct,
                     const torch::Tensor& logits);
  torch::Tensor advance();
  torch::Tensor draw(const torch::Tensor& probs);
  void record(const torch::Tensor& tokens, const torch::Tensor& logp, int64_t version);

  policy& owner_;
  std::vector<std::vector<int32_t>> prompts_;
  sampling_params params_;
  decode_options opts_;
  prefill_counts counts_;
  std::vector<std::mt19937_64> rngs_; // one per sequence
  std::vector<generated_sequence> results_;
  std::vector<char> active_;
  std::vector<char> is_stop_;
  int64_t active_count_;
  int32_t steps_ = 0;
  int64_t generated_ = 0;
  int64_t slot_ = 0;         // next free cache slot
  torch::Tensor pad_;        // int64 [B]: leading pad slots per row
  torch::Tensor valid_;      // bool [B, capacity]: slot holds a real token
  torch::Tensor last_;       // int64 [B, 1]: token to feed next
  internal::kv_cache cache_;
};

torch::Tensor decode_session::impl::prefill() {
  const auto b = static_cast<int64_t>(prompts_.size());
  int64_t p = 0;
  for (const auto& pr : prompts_)
    p = std::max<int64_t>(p, pr.size());
  std::vector<int64_t> pad(b);
  for (int64_t i = 0; i < b; ++i)
    pad[i] = p - static_cast<int64_t>(prompts_[i].size());
  const auto capacity = static_cast<int64_t>(model()->config().max_seq_len);
  pad_ = torch::from_blob(pad.data(), {b}, torch::kLong).clone();
  valid_ = torch::arange(capacity, torch::kLong).unsqueeze(0) >= pad_.unsqueeze(1);
  // The forward runs over one row per distinct prompt (every row when off).
  auto g = opts_.shared_prefill ? group_prompts(prompts_) : distinct_rows(prompts_.size());
  const auto u = static_cast<int64_t>(g.distinct());
  std::vector<int64_t> tokens(u * p, 0), lead(u);
  for (int64_t k = 0; k < u; ++k) {
    const auto i = static_cast<int64_t>(g.first[k]);
    lead[k] = i;
    std::copy(prompts_[i].begin(), prompts_[i].end(), tokens.begin() + k * p + pad[i]);
    counts_.forward_tokens += static_cast<int64_t>(prompts_[i].size());
  }
  counts_.rows += b;
  counts_.forward_rows += u;
  auto rows = torch::from_blob(lead.data(), {u}, torch::kLong).clone();
  auto cache = model()->make_cache(u, capacity);
  auto tok = torch::from_blob(tokens.data(), {u, p}, torch::kLong).clone();
  auto upad = pad_.index_select(0, rows);
  auto pos = (torch::arange(p, torch::kLong).unsqueeze(0) - upad.unsqueeze(1)).clamp_min(0);
  auto mask = internal::causal_mask(valid_.index_select(0, rows).narrow(1, 0, p));
  auto logits = model()->forward(tok, pos, mask, &cache, 0).select(1, p - 1);
  slot_ = p;
  return fork(g, std::move(cache), logits);
}

// Every row takes the cache rows and last logits of its prompt's prefill.
torch::Tensor decode_session::impl::fork(const prompt_groups& g, internal::kv_cache distinct,
                                         const torch::Tensor& logits) {
  if (g.distinct() == prompts_.size()) {
    cache_ = std::move(distinct);
    return logits;
  }
  std::vector<int64_t> of(g.of.begin(), g.of.end());
  auto idx = torch::from_blob(of.data(), {static_cast<int64_t>(of.size())}, torch::kLong).clone();
  for (auto* side : {&distinct.k, &distinct.v})
    for (auto& t : *side)
      t = t.index_select(0, idx);
  cache_ = std::move(distinct);
  return logits.index_select(0, idx);
}

torch::Tensor decode_session::impl::advance() {
  auto pos = (slot_ - pad_).unsqueeze(1);
  auto mask = valid_.narrow(1, 0, slot_ + 1).unsqueeze(1); // [B, 1, slot+1]
  auto logits = model()->forward(last_, pos, mask, &cache_, slot_);
  ++slot_;
  return logits.select(1, 0);
}

torch::Tensor decode_session::impl::draw(const torch::Tensor& probs) {
  const auto b = probs.size(0);
  const bool top_k = params_.top_k > 0 && params_.top_k < probs.size(1);
  // Top-k keeps the k most probable tokens (sorted, as topk returns them).
  auto sorted = top_k ? probs.topk(params_.top_k, -1) : probs.sort(-1, /*descending=*/true);
  auto sp = std::get<0>(sorted);
  auto si = std::get<1>(sorted);
  const auto v = sp.size(1);
  auto limit = torch::full({b}, v - 1, torch::kLong);
  if (params_.top_p < 1.0) {
    // Keep a token while the mass before it is below top_p (of what top-k
    // kept): the top token always stays, so top_p -> 0 is greedy.
    auto before = sp.cumsum(-1) - sp;
    auto keep = top_k ? before < params_.top_p * sp.sum(-1, /*keepdim=*/true)
                      : before < params_.top_p;
    sp = sp * keep.to(torch::kFloat);
    limit = keep.sum(-1).to(torch::kLong) - 1;
  }
  auto cdf = sp.cumsum(-1);
  // One draw per running sequence from its own generator, so that its
  // tokens do not depend on the other rows; finished rows draw nothing.
  std::vector<float> u(static_cast<size_t>(b), 0.0f);
  for (size_t i = 0; i < u.size(); ++i)
    if (active_[i])
      u[i] = static_cast<float>((rngs_[i]() >> 11) * 0x1.0p-53); // [0, 1), portable
  auto target = torch::from_blob(u.data(), {b}, torch::kFloat) * cdf.select(1, v - 1);
  auto idx = (cdf < target.unsqueeze(1)).sum(-1).to(torch::kLong);
  idx = torch::min(idx, limit);
  return si.gather(1, idx.unsqueeze(1)).squeeze(1);
}

void decode_session::impl::record(const torch::Tensor& tokens, const torch::Tensor& logp,
                                  int64_t version) {
  auto tok = tokens.contiguous();
  auto lp = logp.gather(1, tok.unsqueeze(1)).squeeze(1).contiguous();
  const int64_t* t = tok.data_ptr<int64_t>();
  const float* l = lp.data_ptr<float>();
  for (size_t i = 0; i < results_.size(); ++i) {
    if (!active_[i])
      continue;
    auto& r = results_[i];
    r.tokens.push_back(static_cast<int32_t>(t[i]));
    r.logprobs.push_back(l[i]);
    r.versions.push_back(version);
    ++generated_;
    r.finished = is_stop_[t[i]] != 0 || (params_.stop_after && params_.stop_after(r.tokens));
    if (r.finished || static_cast<int32_t>(r.tokens.size()) >= params_.max_new_tokens) {
      active_[i] = 0;
      --active_count_;
    }
  }
  last_ = tok.unsqueeze(1);
}

caf::error decode_session::impl::step(int64_t version) {
  if (done())
    return {}; // nothing left to generate; harmless
  try {
    c10::InferenceMode inference;
    auto logits = steps_ == 0 ? prefill() : advance();
    auto logp = torch::log_softmax(logits / params_.temperature, -1);
    if (!torch::isfinite(logp).all().item<bool>())
      return make_error(errc::numeric_failure, "decode_session: non-finite logits");
    record(draw(logp.exp()), logp, version);
    ++steps_;
    return {};
  } catch (const std::exception& e) {
    return backend_error("decode_session::step", e);
  }
}

decode_session::decode_session(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
decode_session::~decode_session() = default;

caf::error validate_generation(const model_config& cfg,
                            const std::vector<std::vector<int32_t>>& prompts,
                            const sampling_params& sp) {
  auto bad = [](std::string what) {
    return make_error(errc::invalid_argument, "generation: " + what);
  };
  if (prompts.empty())
    return bad("no prompts");
  if (!(sp.temperature > 0) || !std::isfinite(sp.temperature))
    return bad("temperature must be > 0");
  if (!(sp.top_p > 0 && sp.top_p <= 1))
    return bad("top_p must be in (0, 1]");
  if (sp.top_k < 0)
    return bad("top_k must be >= 0 (0 = off)");
  if (sp.max_new_tokens < 1)
    return bad("max_new_tokens must be >= 1");
  for (auto t : sp.stop_tokens)
    if (t < 0 || t >= cfg.vocab_size)
      return bad("stop token " + std::to_string(t) + " outside the vocabulary");
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    auto where = "prompt " + std::to_string(i) + ": ";
    if (p.empty())
      return bad(where + "empty");
    if (p.size() + static_cast<size_t>(sp.max_new_tokens) > static_cast<size_t>(cfg.max_seq_len))
      return bad(where + "prompt + max_new_tokens exceeds max_seq_len "
                 + std::to_string(cfg.max_seq_len));
    for (auto t : p)
      if (t < 0 || t >= cfg.vocab_size)
        return bad(where + "token " + std::to_string(t) + " outside the vocabulary");
  }
  return {};
}


caf::expected<std::unique_ptr<decode_session>>
decode_session::start(policy& model, std::vector<std::vector<int32_t>> prompts,
                      sampling_params params, std::vector<uint64_t> seeds,
                      decode_options opts) {
  if (auto err = validate_generation(model.config(), prompts, params))
    return err;
  if (seeds.size() != prompts.size())
    return make_error(errc::invalid_argument, "generation: " + std::to_string(seeds.size())
                                                + " seeds for " + std::to_string(prompts.size())
                                                + " prompts (one per prompt)");
  auto p = std::make_unique<impl>(model, std::move(prompts), std::move(params), seeds, opts);
  return std::unique_ptr<decode_session>(new decode_session(std::move(p)));
}

caf::error decode_session::step(int64_t version) { return impl_->step(version); }
bool decode_session::done() const { return impl_->done(); }
int32_t decode_session::steps_taken() const { return impl_->steps(); }
int64_t decode_session::tokens_generated() const { return impl_->generated(); }
prefill_counts decode_session::prefill_stats() const { return impl_->counts(); }

std::vector<generated_sequence> decode_session::take_results() { return impl_->take(); }

} // namespace tandem
