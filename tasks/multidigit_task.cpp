// multidigit_task.cpp: seeded arithmetic on multi-digit operands.
//
// Determinism contract (pinned by a golden test): the generator is splitmix64
// (tasks/internal/splitmix64.hpp) with initial state cfg.seed; U(n) is its
// rejection-sampled uniform draw in [0, n) (U(1) draws nothing). Problem k
// draws, in this order, operand a, operand b and op = ops[U(|ops|)]; an
// operand draws d = min_digits + U(max_digits - min_digits + 1) and then
// lo(d) + U(10^d - lo(d)), where lo(1) = 0 and lo(d) = 10^(d-1).
//
// Overflow: operands are below 10^max_digits. With '*' the product is below
// 10^(2 * max_digits) <= 10^18 < 2^63 for max_digits <= 9; with + and - only,
// |a +- b| < 2 * 10^18 < 2^63 for max_digits <= 18.
#include "tasks/multidigit_task.hpp"

#include "runtime/error.hpp"
#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

constexpr int32_t most_digits_with_product = 9;
constexpr int32_t most_digits_without_product = 18;

int64_t power_of_ten(int32_t d) {
  int64_t p = 1;
  for (int32_t i = 0; i < d; ++i)
    p *= 10;
  return p;
}

std::string check_ops(const std::string& ops) {
  if (ops.empty())
    return "must name at least one of + - *";
  for (size_t i = 0; i < ops.size(); ++i) {
    if (std::string("+-*").find(ops[i]) == std::string::npos)
      return std::string("unknown operator '") + ops[i] + "'; use any of + - *";
    if (ops.find(ops[i]) != i)
      return std::string("operator '") + ops[i] + "' is listed twice";
  }
  return {};
}

} // namespace

std::vector<task_config_issue> multidigit_task::check(const multidigit_config& cfg) {
  std::vector<task_config_issue> out;
  const auto range = std::to_string(cfg.min_digits) + ".." + std::to_string(cfg.max_digits);
  const bool product = cfg.ops.find('*') != std::string::npos;
  const int32_t most = product ? most_digits_with_product : most_digits_without_product;
  if (cfg.min_digits < 1)
    out.push_back({"digits", "must be >= 1 (got " + range + ")"});
  else if (cfg.min_digits > cfg.max_digits)
    out.push_back({"digits", "the range " + range + " is empty (lower bound above upper)"});
  else if (cfg.max_digits > most)
    out.push_back({"digits", "at most " + std::to_string(most) + " digits "
                               + (product ? "with '*'" : "with + and -")
                               + ", or a result could overflow int64 (got " + range + ")"});
  if (auto why = check_ops(cfg.ops); !why.empty())
    out.push_back({"ops", why});
  return out;
}

caf::expected<std::unique_ptr<multidigit_task>>
multidigit_task::make(const multidigit_config& cfg) {
  auto issues = check(cfg);
  if (!issues.empty())
    return make_error(errc::invalid_config,
                      "multidigit " + issues[0].field + ": " + issues[0].message);
  return std::unique_ptr<multidigit_task>(new multidigit_task(cfg));
}

int64_t multidigit_task::longest_question_bytes(const multidigit_config& cfg) {
  return 2 * int64_t{cfg.max_digits} + 2; // a op b '='
}

multidigit_task::multidigit_task(const multidigit_config& cfg) : cfg_(cfg), state_(cfg.seed) {
  // nop
}

uint64_t multidigit_task::draw(uint64_t bound) {
  return internal::uniform_below(state_, bound);
}

int64_t multidigit_task::draw_operand() {
  const auto span = static_cast<uint64_t>(cfg_.max_digits - cfg_.min_digits + 1);
  const auto d = cfg_.min_digits + static_cast<int32_t>(draw(span));
  const int64_t lo = d == 1 ? 0 : power_of_ten(d - 1);
  const int64_t hi = power_of_ten(d); // exclusive
  return lo + static_cast<int64_t>(draw(static_cast<uint64_t>(hi - lo)));
}

problem multidigit_task::next() {
  const int64_t a = draw_operand();
  const int64_t b = draw_operand();
  const char op = cfg_.ops[draw(cfg_.ops.size())];
  int64_t result = 0;
  switch (op) {
    case '+': result = a + b; break;
    case '-': result = a - b; break;
    default: result = a * b; break; // '*', the only other op check() accepts
  }
  problem p;
  p.id = count_++;
  p.question = std::to_string(a) + op + std::to_string(b) + "=";
  p.answer = std::to_string(result);
  return p;
}

std::string multidigit_task::describe() const {
  return "multidigit " + std::to_string(cfg_.min_digits) + ".." + std::to_string(cfg_.max_digits)
         + " digits ops " + cfg_.ops;
}

} // namespace tandem
