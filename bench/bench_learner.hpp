// bench_learner.hpp: `tandem bench learner`: training tokens/s of tandem's
// GRPO step (learner_core::train) on random data, against the same step in
// PyTorch eager (tests/reference/torch_grpo_step.py, a child process), and
// whether the two first-step losses agree.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench learner [--shape tiny|qwen2-0.5b | --model HF_DIR] [...]
int bench_learner_command(const std::vector<std::string>& a);

} // namespace tandem
