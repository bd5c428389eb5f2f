// eval_split.hpp: the problems a policy is evaluated on, apart from the
// stream it trains on (README "Evaluation" says which split each task kind
// uses; wiring/evaluation.hpp picks them from a run config).
//
//   arithmetic   the whole table: every a op b with a, b in
//                [min_operand, max_operand] and op in ops. Training draws
//                from the same table, so this split is not held out: it is
//                the task itself, all of it.
//   countdown,   the same generator on another seed (held_out_seed): a
//   multidigit   different stream, not a guaranteed-disjoint one (small
//                configs repeat problems within one stream already).
//   jsonl        task.eval_path's rows, else the file's last tenth.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tasks/arithmetic_task.hpp"
#include "tasks/problem.hpp"

namespace tandem {

/// Problems of the arithmetic table in (a, b, op) order, questions and
/// answers as arithmetic_task writes them; when the table holds more than
/// `size`, `size` of them spread evenly over it. ids 0, 1, ...
std::vector<problem> arithmetic_table(const arithmetic_config& cfg, size_t size);

/// Number of problems in the arithmetic table (saturates at UINT64_MAX).
uint64_t arithmetic_table_size(const arithmetic_config& cfg);

/// At most `size` of `rows`, spread evenly, in order; ids renumbered 0, 1, ...
std::vector<problem> spread_evenly(const std::vector<problem>& rows, size_t size);

/// The last tenth of `rows` (at least one row), then at most `size` of those.
std::vector<problem> tail_split(const std::vector<problem>& rows, size_t size);

/// The seed of a generated task's evaluation stream: a fixed bijective mix
/// of the training seed, never equal to it.
uint64_t held_out_seed(uint64_t training_seed);

/// The next `size` problems of `source`, ids renumbered 0, 1, ...
std::vector<problem> take_problems(problem_source& source, size_t size);

} // namespace tandem
