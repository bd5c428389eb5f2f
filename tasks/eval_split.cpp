// eval_split.cpp: evaluation problems (see eval_split.hpp).
#include "tasks/eval_split.hpp"

#include <string>

#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

int64_t apply(char op, int64_t a, int64_t b) {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    default: return a * b;
  }
}

// The i-th of n evenly spread indices of [0, total).
uint64_t spread_index(uint64_t i, uint64_t n, uint64_t total) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(i) * total) / n);
}

} // namespace

uint64_t arithmetic_table_size(const arithmetic_config& cfg) {
  if (cfg.max_operand < cfg.min_operand || cfg.ops.empty())
    return 0;
  const auto span = static_cast<unsigned __int128>(cfg.max_operand - cfg.min_operand) + 1;
  const auto n = span * span * cfg.ops.size();
  return n > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(n);
}

std::vector<problem> arithmetic_table(const arithmetic_config& cfg, size_t size) {
  const uint64_t total = arithmetic_table_size(cfg);
  const uint64_t n = total < size ? total : size;
  const uint64_t span = static_cast<uint64_t>(cfg.max_operand - cfg.min_operand) + 1;
  const uint64_t ops = cfg.ops.size();
  std::vector<problem> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t k = spread_index(i, n, total);
    const char op = cfg.ops[k % ops];
    const int64_t b = cfg.min_operand + static_cast<int64_t>((k / ops) % span);
    const int64_t a = cfg.min_operand + static_cast<int64_t>(k / ops / span);
    problem p;
    p.id = i;
    p.question = std::to_string(a) + op + std::to_string(b) + "=";
    p.answer = pad_integer(apply(op, a, b), cfg.answer_width);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<problem> spread_evenly(const std::vector<problem>& rows, size_t size) {
  const uint64_t n = rows.size() < size ? rows.size() : size;
  std::vector<problem> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    out.push_back(rows[spread_index(i, n, rows.size())]);
    out.back().id = i;
  }
  return out;
}

std::vector<problem> tail_split(const std::vector<problem>& rows, size_t size) {
  const size_t tail = rows.empty() ? 0 : (rows.size() + 9) / 10;
  std::vector<problem> last(rows.end() - static_cast<std::ptrdiff_t>(tail), rows.end());
  return spread_evenly(last, size);
}

uint64_t held_out_seed(uint64_t training_seed) {
  // splitmix64's output step is a bijection without fixed points in
  // practice; xor with a constant makes seed 0 map away from 0 as well, and
  // a retry covers the (astronomically unlikely) collision.
  uint64_t state = training_seed ^ 0x5EED0E7A1u;
  uint64_t s = internal::splitmix64_next(state);
  return s == training_seed ? s + 1 : s;
}

std::vector<problem> take_problems(problem_source& source, size_t size) {
  std::vector<problem> out;
  out.reserve(size);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(source.next());
    out.back().id = i;
  }
  return out;
}

} // namespace tandem
