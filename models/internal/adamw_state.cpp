// adamw_state.cpp: AdamW state <-> learner-state tensors (adamw_state.hpp).
#include "models/internal/adamw_state.hpp"

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

#include "runtime/error.hpp"

namespace tandem::internal {

namespace {

using adamw_param_state = torch::optim::AdamWParamState;

// The key AdamW files `p`'s state under. LibTorch 1.x: the TensorImpl
// address printed to a string (what its c10::guts::to_string does); 2.x:
// the TensorImpl pointer.
template <class Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  using key = typename Map::key_type;
  if constexpr (std::is_same<key, std::string>::value) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

const adamw_param_state* find_state(const torch::optim::AdamW& opt, const torch::Tensor& p) {
  const auto& states = opt.state();
  auto it = states.find(state_key(states, p));
  return it == states.end() ? nullptr : static_cast<const adamw_param_state*>(it->second.get());
}

struct expected_tensor {
  std::string name;
  state_dtype dtype;
  std::vector<int64_t> shape;
};

// The tensors `model`'s AdamW state is written as, in order.
std::vector<expected_tensor> layout_of(const transformer& model) {
  std::vector<expected_tensor> out;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    auto shape = item.value().sizes().vec();
    out.push_back({item.key() + ".adamw.step", state_dtype::int64, {}});
    out.push_back({item.key() + ".adamw.exp_avg", state_dtype::float32, shape});
    out.push_back({item.key() + ".adamw.exp_avg_sq", state_dtype::float32, shape});
  }
  return out;
}

caf::error check_layout(const std::vector<expected_tensor>& want,
                        const std::vector<state_tensor>& got) {
  auto bad = [](const std::string& what) {
    return make_error(errc::invalid_argument, "learner state: " + what);
  };
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    const auto& w = want[i];
    const auto& g = got[i];
    if (g.name != w.name)
      return bad("tensor " + std::to_string(i) + " is '" + g.name + "', this model's is '"
                 + w.name + "' (state of another model)");
    if (g.dtype != w.dtype || g.shape != w.shape)
      return bad("tensor '" + g.name + "' is " + to_string(g.dtype) + " "
                 + shape_string(g.shape) + ", this model's is " + to_string(w.dtype) + " "
                 + shape_string(w.shape));
  }
  if (got.size() != want.size()) {
    const auto& first = got.size() > want.size() ? got[want.size()].name : want[got.size()].name;
    return bad(std::to_string(got.size()) + " tensors, this model has "
               + std::to_string(want.size()) + " (first unmatched: '" + first + "')");
  }
  return {};
}

// A float32 tensor of `t` on `device` (the blob's bytes copied, aligned).
torch::Tensor moment_of(const state_tensor& t, const torch::Device& device) {
  auto host = torch::empty(t.shape, torch::TensorOptions().dtype(torch::kFloat));
  std::memcpy(host.data_ptr<float>(), t.data, t.bytes);
  return host.to(device);
}

} // namespace

void write_adamw_state(const torch::optim::AdamW& opt, const transformer& model,
                       learner_state_writer& w) {
  size_t bytes = 0;
  for (const auto& t : layout_of(model))
    bytes += encoded_size(t.name, t.dtype, t.shape);
  w.reserve(bytes);
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    const auto& p = item.value();
    const auto shape = p.sizes().vec();
    const auto* st = find_state(opt, p);
    const int64_t step = st ? st->step() : 0;
    w.add(item.key() + ".adamw.step", state_dtype::int64, {}, &step);
    if (!st) { // AdamW would start this parameter from zeros (see the header)
      w.add(item.key() + ".adamw.exp_avg", state_dtype::float32, shape, nullptr);
      w.add(item.key() + ".adamw.exp_avg_sq", state_dtype::float32, shape, nullptr);
      continue;
    }
    auto add_moment = [&](const char* which, const torch::Tensor& m) {
      auto host = m.detach().to(torch::kCPU, torch::kFloat).contiguous();
      w.add(item.key() + ".adamw." + which, state_dtype::float32, shape, host.data_ptr<float>());
    };
    add_moment("exp_avg", st->exp_avg());
    add_moment("exp_avg_sq", st->exp_avg_sq());
  }
}

caf::error read_adamw_state(torch::optim::AdamW& opt, const transformer& model,
                            const std::vector<state_tensor>& tensors) {
  if (auto err = check_layout(layout_of(model), tensors))
    return err;
  // Every new state is built before the old ones are touched: a failure
  // (a bad step count, device memory) leaves the optimizer as it was.
  auto params = model->parameters();
  std::vector<std::unique_ptr<adamw_param_state>> fresh;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto* t = &tensors[3 * i];
    int64_t step = 0;
    std::memcpy(&step, t[0].data, sizeof(step));
    if (step < 0)
      return make_error(errc::invalid_argument, "learner state: tensor '" + t[0].name
                                                  + "' is " + std::to_string(step));
    auto st = std::make_unique<adamw_param_state>();
    st->step(step);
    st->exp_avg(moment_of(t[1], params[i].device()));
    st->exp_avg_sq(moment_of(t[2], params[i].device()));
    fresh.push_back(std::move(st));
  }
  auto& states = opt.state();
  states.clear();
  for (size_t i = 0; i < params.size(); ++i)
    states[state_key(states, params[i])] = std::move(fresh[i]);
  return {};
}

void write_moments(const transformer& model, const std::vector<param_moments>& moments,
                   learner_state_writer& w) {
  size_t bytes = 0;
  for (const auto& t : layout_of(model))
    bytes += encoded_size(t.name, t.dtype, t.shape);
  w.reserve(bytes);
  size_t i = 0;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    const auto& m = moments.at(i++);
    const auto shape = item.value().sizes().vec();
    w.add(item.key() + ".adamw.step", state_dtype::int64, {}, &m.step);
    for (auto [which, t] : {std::make_pair("exp_avg", &m.exp_avg),
                            std::make_pair("exp_avg_sq", &m.exp_avg_sq)}) {
      auto host = t->detach().to(torch::kCPU, torch::kFloat).contiguous();
      w.add(item.key() + ".adamw." + which, state_dtype::float32, shape, host.data_ptr<float>());
    }
  }
}

caf::expected<std::vector<param_moments>> read_moments(const transformer& model,
                                                       const std::vector<state_tensor>& tensors) {
  if (auto err = check_layout(layout_of(model), tensors))
    return err;
  std::vector<param_moments> out;
  for (size_t i = 0; i + 2 < tensors.size(); i += 3) {
    param_moments m;
    std::memcpy(&m.step, tensors[i].data, sizeof(m.step));
    if (m.step < 0)
      return make_error(errc::invalid_argument, "learner state: tensor '" + tensors[i].name
                                                  + "' is " + std::to_string(m.step));
    m.exp_avg = moment_of(tensors[i + 1], torch::kCPU);
    m.exp_avg_sq = moment_of(tensors[i + 2], torch::kCPU);
    out.push_back(std::move(m));
  }
  return out;
}

} // namespace tandem::internal
