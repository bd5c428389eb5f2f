// reference_commands.hpp: `tandem logits` and `tandem tokenize`, the tandem
// halves of the reference checks against transformers and tokenizers
// (tests/reference/gpu_reference_check.py runs both sides and compares).
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem logits --model HF_DIR --ids 1,2,3 --out FILE [--device D --dtype T --prefill K]
int logits_command(const std::vector<std::string>& a);

/// tandem tokenize --tokenizer tokenizer.json --input texts.json --out ids.json
int tokenize_command(const std::vector<std::string>& a);

} // namespace tandem
