// tokenizer.hpp: the built-in character tokenizer for tandem's verifiable tasks.
//
// Special tokens are single ids; ordinary characters map one-to-one. Ids:
//   0 <pad>  1 <bos>  2 <eos>  3 <answer>  4 </answer>  then the characters of
//   `alphabet()` in order (5..78). The tag strings "<answer>" / "</answer>"
//   inside text encode to their special ids.
// With the R1 format (task_framing::format == r1) two more ids follow the
// alphabet, 79 <think> and 80 </think>, so vocab_size() is 81; without it
// they do not exist (vocab_size() 79, and "<think>" in text is an error).
// A framing's template text (prefix, suffix) must use the alphabet.
//
// Thread safety: immutable after construction; safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "tasks/prompt_template.hpp"
#include "tasks/text_tokenizer.hpp"

namespace tandem {

class char_tokenizer : public text_tokenizer {
public:
  static constexpr int32_t pad_id = 0;
  static constexpr int32_t bos_id = 1;
  static constexpr int32_t eos_id = 2;
  static constexpr int32_t answer_open_id = 3;
  static constexpr int32_t answer_close_id = 4;
  static constexpr int32_t think_open_id = 79;  // with the R1 format only
  static constexpr int32_t think_close_id = 80; // with the R1 format only

  /// `framing` frames prompts and scores completions (default: today's
  /// answer format, the question as it is).
  explicit char_tokenizer(task_framing framing = {});

  /// Characters that ordinary text may contain.
  static const std::string& alphabet();

  int32_t vocab_size() const override;

  /// Encodes text; a character outside the alphabet is errc::invalid_argument
  /// naming the character and its offset.
  caf::expected<std::vector<int32_t>> encode(std::string_view text) const override;

  /// Decodes ids; special tokens render as "<pad>", "<bos>", "<eos>",
  /// "<answer>", "</answer>" (and "<think>", "</think>" with the R1 format).
  /// An id out of range renders as "<unk>".
  std::string decode(const std::vector<int32_t>& ids) const override;

  /// <bos> + encode(prefix + question + suffix) + (answer format: <answer>);
  /// format_prompt(*this, question) with the default framing.
  caf::expected<std::vector<int32_t>> prompt_ids(std::string_view question) const override;
  /// stop_tokens(): </answer> and <eos>.
  std::vector<int32_t> stop_ids() const override;
  /// score_framed(decode(completion), ..., allow_eos_tag) (score_completion
  /// with the default framing): the tags are special ids, so the decoded
  /// text shows "</answer>" and "<eos>" exactly where they are.
  reward_breakdown score(const std::vector<int32_t>& completion, std::string_view reference,
                         const reward_weights& weights) const override;
  std::string describe() const override;

  const task_framing& framing() const { return framing_; }

private:
  std::vector<int32_t> char_to_id_; // 256 entries, -1 = not in alphabet
  task_framing framing_;
  bool think_tags_ = false;         // framing_.format == r1
};

/// Token ids of a prompt as the policy sees it:
///   <bos> + encode(question) + <answer>
/// The answer tag is pre-filled (as R1-Zero pre-fills "<think>"), so the
/// completion is expected to be "<digits></answer>".
caf::expected<std::vector<int32_t>>
format_prompt(const char_tokenizer& tok, std::string_view question);

/// Stop tokens for sampling: </answer> and <eos>.
std::vector<int32_t> stop_tokens();

} // namespace tandem
