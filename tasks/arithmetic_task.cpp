// arithmetic_task.cpp: seeded integer arithmetic problems.
//
// Determinism contract (pinned by a golden test): the generator is splitmix64
// (tasks/internal/splitmix64.hpp) with initial state cfg.seed. Problem k draws,
// in this order, a = min + U(span), b = min + U(span), op = ops[U(|ops|)],
// where span = max - min + 1 and U(n) is the rejection-sampled uniform draw in
// [0, n). The op is drawn even when there is only one.
//
// Operands are limited to [0, 1e9] so every result of + - * fits in int64.
#include <algorithm>
#include <memory>
#include <string>

#include "tasks/arithmetic_task.hpp"

#include "runtime/error.hpp"
#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

constexpr int64_t max_operand_limit = 1000000000; // 1e9 * 1e9 < 2^63

} // namespace

caf::expected<std::unique_ptr<arithmetic_task>>
arithmetic_task::make(const arithmetic_config& cfg) {
  if (cfg.ops.empty())
    return make_error(errc::invalid_config,
                      "arithmetic ops: empty, expected some of \"+-*\"");
  for (size_t i = 0; i < cfg.ops.size(); ++i) {
    const char op = cfg.ops[i];
    if (op != '+' && op != '-' && op != '*')
      return make_error(errc::invalid_config,
                        std::string("arithmetic ops: unknown op '") + op
                          + "' in \"" + cfg.ops + "\", expected some of \"+-*\"");
    if (cfg.ops.find(op) != i)
      return make_error(errc::invalid_config,
                        std::string("arithmetic ops: duplicate op '") + op
                          + "' in \"" + cfg.ops + "\"");
  }
  if (cfg.min_operand < 0)
    return make_error(errc::invalid_config,
                      "arithmetic min_operand: " + std::to_string(cfg.min_operand)
                        + " is negative");
  if (cfg.max_operand > max_operand_limit)
    return make_error(errc::invalid_config,
                      "arithmetic max_operand: " + std::to_string(cfg.max_operand)
                        + " exceeds " + std::to_string(max_operand_limit));
  if (cfg.min_operand > cfg.max_operand)
    return make_error(errc::invalid_config,
                      "arithmetic min_operand: " + std::to_string(cfg.min_operand)
                        + " is greater than max_operand "
                        + std::to_string(cfg.max_operand));
  return std::unique_ptr<arithmetic_task>(new arithmetic_task(cfg));
}

arithmetic_task::arithmetic_task(const arithmetic_config& cfg)
  : cfg_(cfg), state_(cfg.seed) {
  // nop
}

uint64_t arithmetic_task::draw(uint64_t bound) {
  return internal::uniform_below(state_, bound);
}

problem arithmetic_task::next() {
  const auto span = static_cast<uint64_t>(cfg_.max_operand - cfg_.min_operand) + 1;
  const int64_t a = cfg_.min_operand + static_cast<int64_t>(draw(span));
  const int64_t b = cfg_.min_operand + static_cast<int64_t>(draw(span));
  const char op = cfg_.ops[draw(cfg_.ops.size())];
  int64_t result = 0;
  switch (op) {
    case '+': result = a + b; break;
    case '-': result = a - b; break;
    default: result = a * b; break; // '*', the only other op make() accepts
  }
  problem p;
  p.id = count_++;
  p.question = std::to_string(a) + op + std::to_string(b) + "=";
  p.answer = pad_integer(result, cfg_.answer_width);
  return p;
}

std::string pad_integer(int64_t value, int64_t width) {
  const bool negative = value < 0;
  // -(value + 1) + 1 negates without overflow, INT64_MIN included.
  const uint64_t magnitude = negative ? static_cast<uint64_t>(-(value + 1)) + 1
                                      : static_cast<uint64_t>(value);
  auto digits = std::to_string(magnitude);
  if (static_cast<int64_t>(digits.size()) < width)
    digits.insert(0, static_cast<size_t>(width) - digits.size(), '0');
  return (negative ? "-" : "") + digits;
}

int64_t widest_arithmetic_result_digits(const arithmetic_config& cfg) {
  // Operands are in [0, 1e9], so every candidate below fits in int64.
  const int64_t hi = cfg.max_operand, lo = cfg.min_operand;
  int64_t widest = 0;
  for (char op : cfg.ops) {
    if (op == '+')
      widest = std::max(widest, hi + hi);
    else if (op == '-')
      widest = std::max(widest, hi - lo);
    else if (op == '*')
      widest = std::max(widest, hi * hi);
  }
  return static_cast<int64_t>(std::to_string(widest).size());
}

std::string arithmetic_task::describe() const {
  return "arithmetic a,b in [" + std::to_string(cfg_.min_operand) + ","
         + std::to_string(cfg_.max_operand) + "] ops " + cfg_.ops;
}

} // namespace tandem
