// reward_workload.hpp: the fixed set of groups `tandem bench reward` scores,
// and the reward each scorer must give every completion.
//
// Two kinds of group, alternating (even groups table, odd groups math):
//   table  an addition-table problem as the default run poses it,
//          prompt "<bos>37+48=<answer>", completions of a few bytes such as
//          "85</answer><eos>" (right, wrong, spaced, unfinished)
//   math   a word problem whose completions reason for a few hundred bytes
//          (newlines, LaTeX) and end in \boxed{...} (right, an equivalent
//          form, wrong, unfinished)
// Token ids are the completion's bytes (byte_tokenizer), so the reward
// actors' decode step is as cheap as the built-in tokenizer's.
//
// Every completion carries what it is (its `variant`), and expected_reward()
// says what each scorer must answer for it: the built-in rules, the math
// grader, and the bench's plug-in rule (plugin_rule: the text before the first
// "</answer>", trimmed, equals the answer; configs/reward/my_reward.py and
// the bench's reward server both implement it).
//
// The same (groups, group size, seed) give the same workload on every platform
// (splitmix64). Thread safety: pure functions; byte_tokenizer is immutable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/messages.hpp"
#include "tasks/reward_rules.hpp"
#include "tasks/text_tokenizer.hpp"

namespace tandem {

enum class completion_variant : uint8_t {
  table_right,      // "85</answer><eos>"
  table_right_open, // "85</answer>" (a BPE-style end: no <eos> tag)
  table_wrong,      // "84</answer><eos>"
  table_spaced,     // " 85 </answer><eos>": right, not well-formed
  table_unfinished, // "85 8": no closing tag
  math_right,       // ... \boxed{17}.
  math_equivalent,  // ... \boxed{17.0} or \boxed{\frac{34}{2}}
  math_wrong,       // ... \boxed{18}.
  math_unfinished,  // reasoning cut off before any \boxed
};

/// Which scorer a reward is expected from.
enum class reward_scorer_kind { rules, math, plugin };

struct reward_workload {
  std::vector<rollout_group> groups;
  std::vector<completion_variant> variants; // one per completion, group after group
  double prompt_bytes = 0;                  // means over the completions
  double completion_bytes = 0;
  size_t completions() const { return variants.size(); }
};

/// `groups` groups of `group_size` completions from `seed`.
reward_workload make_reward_workload(int64_t groups, int32_t group_size, uint64_t seed);

/// The reward `kind` gives a completion of `variant` (see the top).
double expected_reward(reward_scorer_kind kind, completion_variant variant,
                       const reward_weights& weights);

/// The bench's plug-in rule: 1 when the text of `completion` before its
/// first "</answer>" (all of it when there is none), trimmed of whitespace,
/// equals `answer`; else 0.
double plugin_rule(std::string_view completion, std::string_view answer);

/// Ids are bytes (vocabulary 256); text decodes to itself; score() is the
/// built-in rules on the decoded text, as char_tokenizer::score.
class byte_tokenizer : public text_tokenizer {
public:
  caf::expected<std::vector<int32_t>> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return 256; }
  caf::expected<std::vector<int32_t>> prompt_ids(std::string_view question) const override;
  std::vector<int32_t> stop_ids() const override { return {}; }
  reward_breakdown score(const std::vector<int32_t>& completion, std::string_view reference,
                         const reward_weights& weights) const override;
  std::string describe() const override { return "bytes (256 ids)"; }
};

} // namespace tandem
