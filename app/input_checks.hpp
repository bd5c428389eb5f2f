// input_checks.hpp: the second half of `tandem validate`: every file a run
// of an already valid config reads besides the run file and what load_run
// parses itself (tokenizer.json, config.json): the task's JSONL datasets
// line by line (JSON, required fields, UTF-8, prompts the tokenizer can
// encode and the model can hold) and model.hf_path's safetensors headers
// (dtypes, shapes, every tensor's bytes inside its file, exactly the
// tensors the policy has). Reads no tensor data.
//
// Thread safety: a pure function of the config and the files.
#pragma once

#include <string>
#include <vector>

#include "topology/run_config.hpp"

namespace tandem {

/// Every problem found, one line each, as "FILE:LINE: field 'F': problem"
/// for a dataset line and "FILE: ..." (naming the tensor) for a checkpoint
/// file; empty when `tandem run` would read them all.
std::vector<std::string> check_run_inputs(const run_config& cfg);

} // namespace tandem
