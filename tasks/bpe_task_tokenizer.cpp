// bpe_task_tokenizer.cpp: the task framing of a Hugging Face tokenizer.
#include "tasks/bpe_task_tokenizer.hpp"

#include <algorithm>

#include "runtime/error.hpp"
#include "tasks/framed_reward.hpp"

namespace tandem {

caf::expected<std::unique_ptr<bpe_task_tokenizer>>
bpe_task_tokenizer::make(bpe_tokenizer tok, bpe_task_options opts) {
  const std::string where = opts.source.empty() ? "tokenizer" : opts.source;
  if (opts.vocab_size == 0)
    opts.vocab_size = tok.id_bound();
  if (opts.vocab_size < tok.id_bound())
    return make_error(errc::invalid_config,
                      where + ": ids up to " + std::to_string(tok.id_bound() - 1)
                        + " do not fit a vocabulary of " + std::to_string(opts.vocab_size));
  std::vector<int32_t> stops;
  for (const auto& name : opts.stop_tokens) {
    auto id = tok.token_to_id(name);
    if (!id)
      return make_error(errc::invalid_config,
                        where + ": stop token '" + name + "' is not a token");
    stops.push_back(*id);
  }
  return std::unique_ptr<bpe_task_tokenizer>(
    new bpe_task_tokenizer(std::move(tok), std::move(opts), std::move(stops)));
}

caf::expected<std::unique_ptr<bpe_task_tokenizer>>
bpe_task_tokenizer::load(const std::string& path, bpe_task_options opts) {
  auto tok = load_tokenizer_json(path);
  if (!tok)
    return std::move(tok.error());
  if (opts.source.empty())
    opts.source = path;
  return make(std::move(*tok), std::move(opts));
}

bpe_task_tokenizer::bpe_task_tokenizer(bpe_tokenizer tok, bpe_task_options opts,
                                       std::vector<int32_t> stops)
  : tok_(std::move(tok)), opts_(std::move(opts)), stops_(std::move(stops)) {
  // nop
}

caf::expected<std::vector<int32_t>> bpe_task_tokenizer::encode(std::string_view text) const {
  return tok_.encode(text);
}

std::string bpe_task_tokenizer::decode(const std::vector<int32_t>& ids) const {
  return tok_.decode(ids);
}

int32_t bpe_task_tokenizer::vocab_size() const {
  return opts_.vocab_size;
}

caf::expected<std::vector<int32_t>>
bpe_task_tokenizer::prompt_ids(std::string_view question) const {
  auto text = render_question(opts_.framing, question);
  if (opts_.framing.format == task_format::answer)
    text += opts_.answer_prefix;
  return tok_.encode(text);
}

std::vector<int32_t> bpe_task_tokenizer::stop_ids() const {
  return stops_;
}

std::function<bool(const std::vector<int32_t>&)> bpe_task_tokenizer::stop_text_check() const {
  // "</answer>" is 9 bytes, so it lies within the last 9 tokens that could
  // have completed it; 16 leaves room for tokens that decode to nothing.
  constexpr size_t window = 16;
  return [this](const std::vector<int32_t>& completion) {
    auto from = completion.size() > window ? completion.end() - window : completion.begin();
    return tok_.decode(std::vector<int32_t>(from, completion.end())).find("</answer>")
           != std::string::npos;
  };
}

std::string bpe_task_tokenizer::answer_text(const std::vector<int32_t>& completion) const {
  auto end = std::find_first_of(completion.begin(), completion.end(), stops_.begin(),
                                stops_.end());
  return tok_.decode(std::vector<int32_t>(completion.begin(), end));
}

reward_breakdown bpe_task_tokenizer::score(const std::vector<int32_t>& completion,
                                           std::string_view reference,
                                           const reward_weights& weights) const {
  return score_framed(answer_text(completion), reference, weights, opts_.framing, false);
}

std::string bpe_task_tokenizer::describe() const {
  return "bpe " + (opts_.source.empty() ? std::string("tokenizer.json") : opts_.source) + " ("
         + std::to_string(tok_.id_bound()) + " ids, model vocab "
         + std::to_string(opts_.vocab_size) + ")";
}

} // namespace tandem
