// fuzz_framed_reward: arbitrary bytes as a decoded completion through the
// framed reward rules (tasks/framed_reward.hpp): the answer format and the
// R1 format (<think>...</think><answer>...</answer>) with the exact and the
// math check. The first byte picks the framing; the rest is split at its
// first NUL byte into completion and reference. Checked: never crashes, and
// a reward stays within [0, accuracy + format weights].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tasks/framed_reward.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t mode = data[0];
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = all.find('\0');
  std::string_view completion = all.substr(0, cut);
  std::string_view reference = cut == std::string_view::npos ? "42" : all.substr(cut + 1);
  tandem::task_framing framing;
  framing.format = (mode & 1) ? tandem::task_format::r1 : tandem::task_format::answer;
  framing.check = (mode & 2) ? tandem::answer_check::math : tandem::answer_check::exact;
  if (mode & 4)
    framing.suffix = "<think>"; // the template pre-fills <think> (think_prefilled)
  const bool allow_eos = mode & 8;
  tandem::reward_weights weights;
  auto r = tandem::score_framed(completion, reference, weights, framing, allow_eos);
  (void) tandem::r1_well_formed(completion, allow_eos);
  (void) tandem::r1_answer(completion);
  if (!(r.total >= 0 && r.total <= weights.accuracy + weights.format + 1e-9))
    std::abort(); // a reward outside its range
  return 0;
}
