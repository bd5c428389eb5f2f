// text_tokenizer.hpp: what the tasks, the reward and the controller need from
// a tokenizer, so that they run unchanged on the built-in char_tokenizer
// (tasks/tokenizer.hpp) and on a Hugging Face tokenizer.json
// (bpe_task_tokenizer, tasks/bpe_task_tokenizer.hpp).
//
// Besides text <-> ids it owns the task framing, because that framing is
// tokenizer-specific: the char tokenizer has special ids for <bos>, <answer>,
// </answer> and <eos>, while a BPE vocabulary spells the answer tags as plain
// text and ends a completion with its own special tokens (<|im_end|>, ...).
// In both cases a task_framing (tasks/prompt_template.hpp) decides the rest:
// by default the prompt pre-fills the opening answer tag, a completion is
// well formed when it is "<integer></answer>" followed by nothing but the
// end of the completion, and the reward is the rule of
// tasks/reward_rules.hpp on the decoded completion; a prompt template wraps
// the question, and the R1 format expects "<think>...</think><answer>X
// </answer>" (tasks/framed_reward.hpp).
//
// Thread safety: implementations are immutable after construction; one
// instance may be shared by every actor of a process.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "tasks/reward_rules.hpp"

namespace tandem {

class text_tokenizer {
public:
  virtual ~text_tokenizer() = default;

  /// Ids of `text`; text the tokenizer cannot encode is errc::invalid_argument.
  virtual caf::expected<std::vector<int32_t>> encode(std::string_view text) const = 0;

  /// Text of `ids`, special tokens rendered as their text.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;

  /// Ids the policy may emit lie in [0, vocab_size()): the model's
  /// embedding has this many rows.
  virtual int32_t vocab_size() const = 0;

  /// The ids the policy sees for `question`: the question followed by the
  /// opening answer tag (and whatever framing the tokenizer adds).
  virtual caf::expected<std::vector<int32_t>> prompt_ids(std::string_view question) const = 0;

  /// Ids after which the sampler ends a completion.
  virtual std::vector<int32_t> stop_ids() const = 0;

  /// A per-token check that ends a completion once its text closes the
  /// answer (sampling_params::stop_after); empty when stop_ids() suffice.
  /// The check refers to this tokenizer, which must outlive it.
  virtual std::function<bool(const std::vector<int32_t>&)> stop_text_check() const { return {}; }

  /// The R1 reward of `completion` (the ids generated after the prompt).
  virtual reward_breakdown score(const std::vector<int32_t>& completion,
                                 std::string_view reference,
                                 const reward_weights& weights) const = 0;

  /// Short description for logs ("char (79 ids)", "bpe tokenizer.json ...").
  virtual std::string describe() const = 0;
};

} // namespace tandem
