// bpe_task_tokenizer.hpp: a Hugging Face tokenizer.json (bpe_tokenizer) as a
// text_tokenizer for tandem's verifiable tasks.
//
// Framing (the char tokenizer's, spelled in text):
//   prompt      encode(prefix + question + suffix + answer_prefix), e.g.
//               "3+4=<answer>", where prefix and suffix come from the
//               prompt template (tasks/prompt_template.hpp; none by default)
//               and answer_prefix is left out with the R1 format; no BOS is
//               added (Qwen2 models use none; the llama3 template spells it)
//   completion  ends after one of the stop tokens (special tokens named in
//               the config, e.g. <|endoftext|>, <|im_end|>) or at
//               max_new_tokens; generation does not stop on the text
//               "</answer>" (the samplers only know token ids)
//   reward      score_framed (tasks/framed_reward.hpp; score_answer_text
//               with the default framing) on the completion decoded up to
//               its first stop token: accuracy from the text before
//               "</answer>", format 1 only for exactly "<integer></answer>"
//               (answer format), or the R1 rules
//
// vocab_size() is the model's embedding size (a checkpoint's vocab is often
// padded past the tokenizer's ids); ids without a token decode to nothing.
//
// Thread safety: immutable after make(); the wrapped bpe_tokenizer is
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "tasks/bpe_tokenizer.hpp"
#include "tasks/prompt_template.hpp"
#include "tasks/text_tokenizer.hpp"

namespace tandem {

struct bpe_task_options {
  std::string answer_prefix = "<answer>"; // appended to every question
  std::vector<std::string> stop_tokens;   // special tokens that end a completion
  int32_t vocab_size = 0;                 // model ids; 0 = the tokenizer's id_bound()
  std::string source;                     // tokenizer.json path, for describe()
  task_framing framing;                   // template, format, answer check
};

class bpe_task_tokenizer : public text_tokenizer {
public:
  /// errc::invalid_config when a stop token is not one token of `tok`, or
  /// when vocab_size is below the tokenizer's id_bound().
  static caf::expected<std::unique_ptr<bpe_task_tokenizer>>
  make(bpe_tokenizer tok, bpe_task_options opts);

  /// load_tokenizer_json(path), then make().
  static caf::expected<std::unique_ptr<bpe_task_tokenizer>>
  load(const std::string& path, bpe_task_options opts);

  caf::expected<std::vector<int32_t>> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override;
  caf::expected<std::vector<int32_t>> prompt_ids(std::string_view question) const override;
  std::vector<int32_t> stop_ids() const override;
  /// True once the completion's text contains "</answer>" (looks at the
  /// last few tokens only, so it costs O(1) per token).
  std::function<bool(const std::vector<int32_t>&)> stop_text_check() const override;
  reward_breakdown score(const std::vector<int32_t>& completion, std::string_view reference,
                         const reward_weights& weights) const override;
  std::string describe() const override;

  /// The completion's text up to (not including) its first stop token.
  std::string answer_text(const std::vector<int32_t>& completion) const;

private:
  bpe_task_tokenizer(bpe_tokenizer tok, bpe_task_options opts, std::vector<int32_t> stops);
  bpe_tokenizer tok_;
  bpe_task_options opts_;
  std::vector<int32_t> stops_;
};

} // namespace tandem
