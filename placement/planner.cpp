#include "placement/planner.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>

namespace actinfer {

namespace {

std::string mib_and_bytes(uint64_t b) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f MiB (%llu bytes)", static_cast<double>(b) / (1 << 20), static_cast<unsigned long long>(b));
  return text;
}

void check_layers(const std::vector<UnitLayer>& layers) {
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].value.size() != layers[l].cost.size())
      throw std::invalid_argument("planner: layer " + std::to_string(l) + " has " + std::to_string(layers[l].value.size()) +
                                  " values but " + std::to_string(layers[l].cost.size()) + " costs");
    for (uint64_t c : layers[l].cost)
      if (c == 0) throw std::invalid_argument("planner: layer " + std::to_string(l) + " has a unit of cost 0");
  }
}

// The per-layer units of a profile: neurons sorted by count (ties: lower index),
// cut into blocks. order[l] is the sorted neuron list.
struct Units {
  std::vector<UnitLayer> layers;
  std::vector<std::vector<int>> order;
  std::vector<int> block_size;  // neurons of unit u of any layer: min(block, d_ff - u * block)
};

Units make_units(const ModelWeights& w, const ActivationProfile& p, int block, int n_ctx, bool sparse) {
  const ModelConfig& c = w.config();
  Units u;
  for (int l = 0; l < c.n_layers; ++l) {
    // Bytes per hot neuron of layer l, as device_footprint counts them.
    std::vector<int64_t> one(static_cast<size_t>(c.n_layers), 0);
    one[static_cast<size_t>(l)] = 1;
    const uint64_t per_neuron = device_footprint(w, one, n_ctx, sparse).hot_ffn;
    const auto& fired = p.fired[static_cast<size_t>(l)];
    std::vector<int> order(static_cast<size_t>(c.d_ff));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return fired[static_cast<size_t>(a)] > fired[static_cast<size_t>(b)]; });
    UnitLayer L;
    for (int first = 0; first < c.d_ff; first += block) {
      const int n = std::min(block, c.d_ff - first);
      uint64_t v = 0;
      for (int i = first; i < first + n; ++i) v += fired[static_cast<size_t>(order[static_cast<size_t>(i)])];
      L.value.push_back(v);
      L.cost.push_back(per_neuron * static_cast<uint64_t>(n));
    }
    u.layers.push_back(std::move(L));
    u.order.push_back(std::move(order));
  }
  return u;
}

Plan plan(const ModelWeights& w, const ActivationProfile& p, const PlanOptions& o, bool exact) {
  const ModelConfig& c = w.config();
  if (o.block < 1) throw std::invalid_argument("planner: block must be >= 1, got " + std::to_string(o.block));
  if (o.n_ctx < 1) throw std::invalid_argument("planner: context length must be positive, got " + std::to_string(o.n_ctx));
  if (static_cast<int>(p.fired.size()) != c.n_layers)
    throw std::invalid_argument("planner: the profile has " + std::to_string(p.fired.size()) + " layers, the model " + std::to_string(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l)
    if (static_cast<int>(p.fired[static_cast<size_t>(l)].size()) != c.d_ff)
      throw std::invalid_argument("planner: profile layer " + std::to_string(l) + " has " + std::to_string(p.fired[static_cast<size_t>(l)].size()) +
                                  " neurons, the model " + std::to_string(c.d_ff));
  const int n_ctx = std::min(o.n_ctx, c.n_ctx_train);

  // The fixed parts first.
  const DeviceFootprint fixed = device_footprint(w, std::vector<int64_t>(static_cast<size_t>(c.n_layers), 0), n_ctx, false, o.cache_type);
  Plan plan;
  plan.fixed_bytes = fixed.total() + o.predictor_bytes;
  if (plan.fixed_bytes > o.vram_budget)
    throw std::invalid_argument("VRAM budget " + mib_and_bytes(o.vram_budget) + " is too small: the fixed parts alone need " + mib_and_bytes(plan.fixed_bytes) +
                                " (attention " + mib_and_bytes(fixed.attention) + ", lm_head " + mib_and_bytes(fixed.lm_head) + ", KV cache " +
                                mib_and_bytes(fixed.kv_cache) + " for ctx " + std::to_string(n_ctx) + " in " + kv_cache_type_name(o.cache_type) + ", predictors " + mib_and_bytes(o.predictor_bytes) +
                                ") before any FFN neuron");
  plan.ffn_budget = o.vram_budget - plan.fixed_bytes;

  const Units u = make_units(w, p, o.block, n_ctx, o.sparse);
  const std::vector<int> taken = exact ? select_units_exact(u.layers, plan.ffn_budget) : select_units_greedy(u.layers, plan.ffn_budget);

  plan.placement.hot.assign(static_cast<size_t>(c.n_layers), std::vector<uint8_t>(static_cast<size_t>(c.d_ff), 0));
  plan.hot_per_layer.assign(static_cast<size_t>(c.n_layers), 0);
  for (int l = 0; l < c.n_layers; ++l) {
    const size_t L = static_cast<size_t>(l);
    const int n_hot = std::min(c.d_ff, taken[L] * o.block);
    for (int i = 0; i < n_hot; ++i) plan.placement.hot[L][static_cast<size_t>(u.order[L][static_cast<size_t>(i)])] = 1;
    plan.hot_per_layer[L] = n_hot;
    for (size_t i = 0; i < u.order[L].size(); ++i) {
      const uint64_t f = p.fired[L][static_cast<size_t>(u.order[L][i])];
      plan.total_fired += f;
      if (static_cast<int>(i) < n_hot) plan.hot_fired += f;
    }
  }
  plan.footprint = device_footprint(w, plan.hot_per_layer, n_ctx, o.sparse, o.cache_type);
  plan.served_fraction = plan.total_fired ? static_cast<double>(plan.hot_fired) / static_cast<double>(plan.total_fired) : 0.0;
  return plan;
}

}  // namespace

uint64_t units_value(const std::vector<UnitLayer>& layers, const std::vector<int>& taken) {
  uint64_t v = 0;
  for (size_t l = 0; l < layers.size(); ++l)
    for (int k = 0; k < taken[l]; ++k) v += layers[l].value[static_cast<size_t>(k)];
  return v;
}

uint64_t units_cost(const std::vector<UnitLayer>& layers, const std::vector<int>& taken) {
  uint64_t c = 0;
  for (size_t l = 0; l < layers.size(); ++l)
    for (int k = 0; k < taken[l]; ++k) c += layers[l].cost[static_cast<size_t>(k)];
  return c;
}

std::vector<int> select_units_greedy(const std::vector<UnitLayer>& layers, uint64_t budget) {
  check_layers(layers);
  struct Unit { int layer, index; uint64_t value, cost; };
  std::vector<Unit> all;
  for (size_t l = 0; l < layers.size(); ++l)
    for (size_t k = 0; k < layers[l].value.size(); ++k)
      all.push_back({static_cast<int>(l), static_cast<int>(k), layers[l].value[k], layers[l].cost[k]});
  // value_a / cost_a > value_b / cost_b, compared exactly.
  std::sort(all.begin(), all.end(), [](const Unit& a, const Unit& b) {
    const unsigned __int128 x = static_cast<unsigned __int128>(a.value) * b.cost, y = static_cast<unsigned __int128>(b.value) * a.cost;
    if (x != y) return x > y;
    return std::tie(a.layer, a.index) < std::tie(b.layer, b.index);
  });
  std::vector<int> taken(layers.size(), 0);
  std::vector<uint8_t> closed(layers.size(), 0);
  uint64_t left = budget;
  for (const Unit& u : all) {
    const size_t l = static_cast<size_t>(u.layer);
    if (closed[l]) continue;
    // An earlier unit of the layer may sort later only if the ratios increase
    // along the layer (then the guarantee does not hold): close the layer.
    if (u.index != taken[l] || u.cost > left) {
      closed[l] = 1;
      continue;
    }
    left -= u.cost;
    ++taken[l];
  }
  return taken;
}

std::vector<int> select_units_exact(const std::vector<UnitLayer>& layers, uint64_t budget, uint64_t max_cells) {
  check_layers(layers);
  uint64_t g = 0;
  for (const auto& L : layers)
    for (uint64_t c : L.cost) g = std::gcd(g, c);
  std::vector<int> taken(layers.size(), 0);
  if (g == 0) return taken;  // no units at all
  const uint64_t cap = budget / g;
  uint64_t work = 0;
  for (const auto& L : layers) work += (cap + 1) * (L.value.size() + 1);
  if (cap + 1 > max_cells || (cap + 1) * layers.size() > max_cells || work > max_cells * 64)
    throw std::invalid_argument("planner: the exact solver's table would need " + std::to_string(layers.size()) + " layers x " +
                                std::to_string(cap + 1) + " budget steps (" + std::to_string(work) +
                                " operations): too big an instance, use the greedy planner");
  const size_t C = static_cast<size_t>(cap);
  std::vector<uint64_t> best(C + 1, 0), next(C + 1);
  std::vector<std::vector<int>> choice(layers.size(), std::vector<int>(C + 1, 0));
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    // Prefix sums in budget steps.
    std::vector<uint64_t> pv(L.value.size() + 1, 0), pc(L.value.size() + 1, 0);
    for (size_t k = 0; k < L.value.size(); ++k) {
      pv[k + 1] = pv[k] + L.value[k];
      pc[k + 1] = pc[k] + L.cost[k] / g;
    }
    for (size_t c = 0; c <= C; ++c) {
      uint64_t v = best[c];
      int k_best = 0;
      for (size_t k = 1; k < pv.size() && pc[k] <= c; ++k) {
        const uint64_t cand = best[c - pc[k]] + pv[k];
        if (cand > v) {
          v = cand;
          k_best = static_cast<int>(k);
        }
      }
      next[c] = v;
      choice[l][c] = k_best;
    }
    best.swap(next);
  }
  size_t c = C;
  for (size_t l = layers.size(); l-- > 0;) {
    const int k = choice[l][c];
    taken[l] = k;
    for (int i = 0; i < k; ++i) c -= static_cast<size_t>(layers[l].cost[static_cast<size_t>(i)] / g);
  }
  return taken;
}

Plan plan_placement(const ModelWeights& w, const ActivationProfile& profile, const PlanOptions& o) { return plan(w, profile, o, false); }

Plan plan_placement_exact(const ModelWeights& w, const ActivationProfile& profile, const PlanOptions& o) { return plan(w, profile, o, true); }

}  // namespace actinfer
