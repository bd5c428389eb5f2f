// countdown_task.cpp: seeded Countdown problems.
//
// Determinism contract (pinned by a golden test): the generator is splitmix64
// (tasks/internal/splitmix64.hpp) with initial state cfg.seed; U(n) is its
// rejection-sampled uniform draw in [0, n) (U(1) draws nothing). Problem k:
//   1. n = min_numbers + U(max_numbers - min_numbers + 1)
//   2. n times: small = U(2) == 0; number = 1 + U(small ? min(10, max_number)
//      : max_number). Half the numbers are small, as in the game, so that
//      products stay under the target bound often enough.
//   3. The pool holds the n numbers (value and expression). While it holds
//      more than one entry: i = U(size), j = U(size - 1), j += (j >= i);
//      a, b = pool[i], pool[j]; hi, lo = the larger and smaller value (a on a
//      tie). The candidates, in this order, are hi+lo, hi-lo, hi*lo, hi/lo,
//      each kept when it is an integer in [1, max_target]; one is taken with
//      U(#candidates). Entries i and j leave the pool and "(hi op lo)" joins
//      its end. There is always a candidate: hi-lo when hi > lo, else hi/lo=1.
//   4. The target is the last entry's value; the solution its expression
//      without the outermost parentheses.
#include "tasks/countdown_task.hpp"

#include <algorithm>

#include "runtime/error.hpp"
#include "tasks/countdown_verifier.hpp"
#include "tasks/internal/splitmix64.hpp"

namespace tandem {

namespace {

constexpr int32_t fewest_numbers = 2;
constexpr int32_t most_numbers = 6;
constexpr int64_t max_number_limit = 1000000;  // six digits
constexpr int64_t max_target_limit = 1000000000; // hi * lo <= 1e18 fits int64
constexpr int64_t small_number_bound = 10;

int64_t digits(int64_t x) {
  int64_t d = 1;
  for (; x >= 10; x /= 10)
    ++d;
  return d;
}

struct entry {
  int64_t value;
  std::string expression;
};

// The valid results of combining hi >= lo (step 3 of the contract).
std::vector<std::pair<char, int64_t>> candidates(int64_t hi, int64_t lo, int64_t max_target) {
  std::vector<std::pair<char, int64_t>> out;
  if (hi + lo <= max_target)
    out.emplace_back('+', hi + lo);
  if (hi > lo)
    out.emplace_back('-', hi - lo);
  if (hi * lo <= max_target)
    out.emplace_back('*', hi * lo);
  if (hi % lo == 0)
    out.emplace_back('/', hi / lo);
  return out;
}

} // namespace

std::vector<task_config_issue> countdown_task::check(const countdown_config& cfg) {
  std::vector<task_config_issue> out;
  const auto range = std::to_string(cfg.min_numbers) + ".." + std::to_string(cfg.max_numbers);
  if (cfg.min_numbers < fewest_numbers || cfg.max_numbers > most_numbers)
    out.push_back({"numbers", "must lie in " + std::to_string(fewest_numbers) + ".."
                                + std::to_string(most_numbers) + " (got " + range + ")"});
  else if (cfg.min_numbers > cfg.max_numbers)
    out.push_back({"numbers", "the range " + range + " is empty (lower bound above upper)"});
  if (cfg.max_number < 1 || cfg.max_number > max_number_limit)
    out.push_back({"max_number", "must be in 1.." + std::to_string(max_number_limit) + " (got "
                                   + std::to_string(cfg.max_number) + ")"});
  if (cfg.max_target > max_target_limit)
    out.push_back({"max_target", "must be <= " + std::to_string(max_target_limit) + " (got "
                                   + std::to_string(cfg.max_target) + ")"});
  else if (cfg.max_target < cfg.max_number)
    out.push_back({"max_target", "must be >= max_number " + std::to_string(cfg.max_number)
                                   + ": every number is itself an intermediate result (got "
                                   + std::to_string(cfg.max_target) + ")"});
  return out;
}

caf::expected<std::unique_ptr<countdown_task>> countdown_task::make(const countdown_config& cfg) {
  auto issues = check(cfg);
  if (!issues.empty())
    return make_error(errc::invalid_config,
                      "countdown " + issues[0].field + ": " + issues[0].message);
  return std::unique_ptr<countdown_task>(new countdown_task(cfg));
}

int64_t countdown_task::longest_question_bytes(const countdown_config& cfg) {
  // "Use " + numbers joined by ',' + " to make " + target + ":"
  const int64_t n = std::max<int64_t>(cfg.max_numbers, 1);
  return 4 + n * digits(cfg.max_number) + (n - 1) + 9 + digits(cfg.max_target) + 1;
}

countdown_task::countdown_task(const countdown_config& cfg) : cfg_(cfg), state_(cfg.seed) {
  // nop
}

uint64_t countdown_task::draw(uint64_t bound) {
  return internal::uniform_below(state_, bound);
}

int64_t countdown_task::draw_number() {
  const bool small = draw(2) == 0;
  const int64_t bound = small ? std::min(small_number_bound, cfg_.max_number) : cfg_.max_number;
  return 1 + static_cast<int64_t>(draw(static_cast<uint64_t>(bound)));
}

countdown_instance countdown_task::next_instance() {
  countdown_instance inst;
  const auto span = static_cast<uint64_t>(cfg_.max_numbers - cfg_.min_numbers + 1);
  const auto n = cfg_.min_numbers + static_cast<int32_t>(draw(span));
  std::vector<entry> pool;
  for (int32_t k = 0; k < n; ++k) {
    inst.numbers.push_back(draw_number());
    pool.push_back({inst.numbers.back(), std::to_string(inst.numbers.back())});
  }
  while (pool.size() > 1) {
    const auto i = static_cast<size_t>(draw(pool.size()));
    auto j = static_cast<size_t>(draw(pool.size() - 1));
    j += j >= i ? 1 : 0;
    const bool a_first = pool[i].value >= pool[j].value;
    const entry& hi = a_first ? pool[i] : pool[j];
    const entry& lo = a_first ? pool[j] : pool[i];
    const auto options = candidates(hi.value, lo.value, cfg_.max_target);
    const auto [op, result] = options[draw(options.size())];
    entry joined{result, "(" + hi.expression + op + lo.expression + ")"};
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(std::max(i, j)));
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(std::min(i, j)));
    pool.push_back(std::move(joined));
  }
  inst.target = pool[0].value;
  inst.solution = pool[0].expression;
  if (n > 1) // "(a+b)" -> "a+b"
    inst.solution = inst.solution.substr(1, inst.solution.size() - 2);
  return inst;
}

problem countdown_task::next() {
  auto inst = next_instance();
  problem p;
  p.id = count_++;
  p.question = countdown_question(inst);
  p.answer = format_countdown_reference({inst.target, inst.numbers});
  return p;
}

std::string countdown_task::describe() const {
  return "countdown " + std::to_string(cfg_.min_numbers) + ".." + std::to_string(cfg_.max_numbers)
         + " numbers in [1," + std::to_string(cfg_.max_number) + "], targets in [1,"
         + std::to_string(cfg_.max_target) + "]";
}

std::string countdown_question(const countdown_instance& inst) {
  std::string q = "Use ";
  for (size_t i = 0; i < inst.numbers.size(); ++i)
    q += (i == 0 ? "" : ",") + std::to_string(inst.numbers[i]);
  return q + " to make " + std::to_string(inst.target) + ":";
}

} // namespace tandem
