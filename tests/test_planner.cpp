// The placement planner (placement/planner.h): the greedy against the exact dynamic
// program and brute force on small random instances, the refusal of a budget
// the fixed parts already exceed, and end to end on a tiny synthetic ReLU model
// (profile -> plan -> actor runtime = dense engine).
#include <doctest/doctest.h>

#include "test_data.h"
#include "tests/runtime_comparison.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "actors/actor_runtime.h"
#include "backends/backend.h"
#include "placement/planner.h"
#include "engine/dense_engine.h"
#include "engine/neuron_bundles.h"
#include "engine/profiler.h"
#include "model/placement.h"
#include "model/synthetic_model.h"

using namespace actinfer;

namespace {

// A random layer of n units of equal cost, values non-increasing.
UnitLayer random_layer(std::mt19937_64& rng, int n, uint64_t cost) {
  UnitLayer L;
  std::uniform_int_distribution<uint64_t> d(0, 1000);
  for (int i = 0; i < n; ++i) L.value.push_back(d(rng));
  std::sort(L.value.rbegin(), L.value.rend());
  L.cost.assign(static_cast<size_t>(n), cost);
  return L;
}

uint64_t total_cost(const std::vector<UnitLayer>& layers) {
  uint64_t c = 0;
  for (const auto& L : layers)
    for (uint64_t x : L.cost) c += x;
  return c;
}

// The best value over every choice of prefix lengths.
uint64_t brute_force(const std::vector<UnitLayer>& layers, uint64_t budget) {
  std::vector<int> k(layers.size(), 0);
  uint64_t best = 0;
  std::function<void(size_t)> rec = [&](size_t l) {
    if (l == layers.size()) {
      if (units_cost(layers, k) <= budget) best = std::max(best, units_value(layers, k));
      return;
    }
    for (int i = 0; i <= static_cast<int>(layers[l].value.size()); ++i) {
      k[l] = i;
      rec(l + 1);
    }
  };
  rec(0);
  return best;
}

void check_prefixes(const std::vector<UnitLayer>& layers, const std::vector<int>& taken) {
  REQUIRE(taken.size() == layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    CHECK(taken[l] >= 0);
    CHECK(taken[l] <= static_cast<int>(layers[l].value.size()));
  }
}

}  // namespace

TEST_CASE("planner: equal unit costs, the greedy is optimal (= exact DP = brute force)") {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    const int n_layers = 2 + static_cast<int>(rng() % 3);
    const uint64_t cost = 1 + rng() % 7;
    std::vector<UnitLayer> layers;
    for (int l = 0; l < n_layers; ++l) layers.push_back(random_layer(rng, 5 + static_cast<int>(rng() % 16), cost));
    const uint64_t budget = rng() % (total_cost(layers) + 2 * cost);
    const auto greedy = select_units_greedy(layers, budget);
    const auto exact = select_units_exact(layers, budget);
    check_prefixes(layers, greedy);
    check_prefixes(layers, exact);
    INFO("trial " << trial << " layers " << n_layers << " cost " << cost << " budget " << budget);
    CHECK(units_cost(layers, greedy) <= budget);
    CHECK(units_cost(layers, exact) <= budget);
    CHECK(units_value(layers, greedy) == units_value(layers, exact));
    if (n_layers <= 3) CHECK(units_value(layers, exact) == brute_force(layers, budget));
  }
}

TEST_CASE("planner: different per-layer costs, the exact DP is optimal and the greedy within one unit's value") {
  std::mt19937_64 rng(7);
  int greedy_suboptimal = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n_layers = 2 + static_cast<int>(rng() % 2);
    std::vector<UnitLayer> layers;
    uint64_t max_value = 0;
    for (int l = 0; l < n_layers; ++l) {
      layers.push_back(random_layer(rng, 1 + static_cast<int>(rng() % 6), 1 + rng() % 9));
      for (uint64_t v : layers.back().value) max_value = std::max(max_value, v);
    }
    const uint64_t budget = rng() % (total_cost(layers) + 3);
    const auto greedy = select_units_greedy(layers, budget);
    const auto exact = select_units_exact(layers, budget);
    check_prefixes(layers, greedy);
    check_prefixes(layers, exact);
    const uint64_t opt = brute_force(layers, budget);
    INFO("trial " << trial << " budget " << budget);
    CHECK(units_cost(layers, exact) <= budget);
    CHECK(units_value(layers, exact) == opt);
    CHECK(units_cost(layers, greedy) <= budget);
    CHECK(units_value(layers, greedy) <= opt);
    CHECK(units_value(layers, greedy) + max_value >= opt);  // the stated guarantee
    greedy_suboptimal += units_value(layers, greedy) < opt;
  }
  MESSAGE("greedy below the optimum in " << greedy_suboptimal << " of 300 instances");
  // The classic case: the better ratio blocks the better total.
  const std::vector<UnitLayer> layers = {{{3}, {2}}, {{5}, {4}}};
  CHECK(units_value(layers, select_units_greedy(layers, 4)) == 3);
  CHECK(units_value(layers, select_units_exact(layers, 4)) == 5);
  // Too big for the exact solver: refused by name.
  const std::vector<UnitLayer> big = {{{1, 1}, {1, 1}}};
  CHECK_THROWS_WITH(select_units_exact(big, 1000000, 1000), doctest::Contains("too big an instance"));
  const std::vector<UnitLayer> ragged = {{{1, 1}, {1}}};
  CHECK_THROWS_WITH(select_units_greedy(ragged, 5), doctest::Contains("1 costs"));
}

namespace {

std::shared_ptr<const ModelWeights> tiny_model(const std::string& tag) {
  return ModelWeights::load(testing::small_relu_model("planner_tiny_" + tag, GgmlType::F32, 5));
}

using actinfer::testing::random_tokens;

}  // namespace

TEST_CASE("planner: a budget the fixed parts already exceed is refused with the numbers") {
  auto w = tiny_model("refuse");
  ActivationProfile p;
  p.fired.assign(3, std::vector<uint32_t>(384, 1));
  // The tiny F32 model (see test_actor_runtime.cpp): attention 592,896 bytes, lm_head
  // 154,112, KV cache (F16, the default) at ctx 256 196,608; with 1,000 bytes of predictors 944,616.
  PlanOptions o;
  o.n_ctx = 256;
  o.predictor_bytes = 1000;
  o.vram_budget = 944615;
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("the fixed parts alone need 0.90 MiB (944616 bytes)"));
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("attention 0.57 MiB (592896 bytes)"));
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("lm_head 0.15 MiB (154112 bytes)"));
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("(196608 bytes) for ctx 256 in f16"));
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("predictors 0.00 MiB (1000 bytes)"));
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("VRAM budget 0.90 MiB (944615 bytes) is too small"));
  // Exactly the fixed parts: a plan with no hot neuron.
  o.vram_budget = 944616;
  const Plan none = plan_placement(*w, p, o);
  CHECK(none.placement.n_hot() == 0);
  CHECK(none.served_fraction == 0.0);
  // One neuron's bytes more (3 x 128 floats): one hot neuron.
  o.vram_budget += 3 * 128 * 4;
  CHECK(plan_placement(*w, p, o).placement.n_hot() == 1);
  // A profile of another shape, and bad options.
  ActivationProfile other = p;
  other.fired[1].resize(256);
  CHECK_THROWS_WITH(plan_placement(*w, other, o), doctest::Contains("profile layer 1 has 256 neurons, the model 384"));
  o.block = 0;
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("block must be >= 1"));
}

TEST_CASE("planner: an F16 KV cache is charged half the bytes, and the neurons get the difference") {
  auto w = tiny_model("refuse_f16");
  ActivationProfile p;
  p.fired.assign(3, std::vector<uint32_t>(384, 1));
  // As above, with the KV cache at ctx 256 in half precision: 2 x 3 layers x 256 x 64 x 2 bytes
  // = 196,608 (F32: 393,216), so the fixed parts are 592,896 + 154,112 + 196,608 = 943,616 bytes.
  PlanOptions o;
  o.n_ctx = 256;
  o.cache_type = KvCacheType::F16;
  o.vram_budget = 943615;
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("(196608 bytes) for ctx 256 in f16"));
  CHECK_THROWS_WITH(plan_placement(*w, p, o), doctest::Contains("the fixed parts alone need 0.90 MiB (943616 bytes)"));
  o.vram_budget = 943616;
  const Plan none = plan_placement(*w, p, o);
  CHECK(none.placement.n_hot() == 0);
  CHECK(none.footprint.kv_cache == 196608);
  // The 196,608 bytes F32 would have taken: 128 more hot neurons of 3 x 128 floats (1,536 bytes each).
  o.vram_budget = 943616 + 196608;
  CHECK(plan_placement(*w, p, o).placement.n_hot() == 128);
  o.cache_type = KvCacheType::F32;
  CHECK(plan_placement(*w, p, o).placement.n_hot() == 0);
}

TEST_CASE("planner end to end: profile, plan ~30% hot, the actor runtime with the placement = dense engine") {
  auto w = tiny_model("e2e");
  const ModelConfig& c = w->config();
  ProfileOptions po;
  po.n_ctx = 64;
  po.n_threads = 2;
  const ActivationProfile profile = profile_activations(*w, random_tokens(320, 3, c.n_vocab), po);

  const int n_ctx = 256;
  const uint64_t per_neuron = 3 * 128 * 4;
  const int64_t n_all = static_cast<int64_t>(c.n_layers) * c.d_ff;
  const DeviceFootprint fixed = device_footprint(*w, {0, 0, 0}, n_ctx);
  PlanOptions o;
  o.n_ctx = n_ctx;
  o.vram_budget = fixed.total() + static_cast<uint64_t>(0.3 * static_cast<double>(n_all)) * per_neuron + per_neuron / 2;
  const Plan plan = plan_placement(*w, profile, o);
  const int64_t n_hot = plan.placement.n_hot();
  CHECK(n_hot == static_cast<int64_t>(0.3 * static_cast<double>(n_all)));
  CHECK(plan.footprint.total() <= o.vram_budget);
  CHECK(plan.footprint.hot_ffn == static_cast<uint64_t>(n_hot) * per_neuron);
  int64_t sum = 0;
  for (int64_t h : plan.hot_per_layer) sum += h;
  CHECK(sum == n_hot);
  const double hot_fraction = static_cast<double>(n_hot) / static_cast<double>(n_all);
  MESSAGE("hot " << hot_fraction << " of the neurons serve " << plan.served_fraction << " of the firings; per layer "
                 << plan.hot_per_layer[0] << " " << plan.hot_per_layer[1] << " " << plan.hot_per_layer[2]);
  CHECK(plan.served_fraction > hot_fraction);
  // Equal costs: a global top-K, every hot neuron fires at least as often as every cold one.
  uint32_t min_hot = UINT32_MAX, max_cold = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (int i = 0; i < c.d_ff; ++i) {
      const uint32_t f = profile.fired[static_cast<size_t>(l)][static_cast<size_t>(i)];
      if (plan.placement.hot[static_cast<size_t>(l)][static_cast<size_t>(i)]) min_hot = std::min(min_hot, f);
      else max_cold = std::max(max_cold, f);
    }
  CHECK(min_hot >= max_cold);
  // The exact solver agrees on the value.
  const Plan exact = plan_placement_exact(*w, profile, o);
  CHECK(exact.hot_fired == plan.hot_fired);
  // Blocks of 64: whole blocks per layer.
  PlanOptions ob = o;
  ob.block = 64;
  const Plan blocks = plan_placement(*w, profile, ob);
  for (int64_t h : blocks.hot_per_layer) CHECK(h % 64 == 0);
  CHECK(blocks.hot_fired <= plan.hot_fired);
  CHECK(blocks.hot_fired == plan_placement_exact(*w, profile, ob).hot_fired);

  const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "planner_placement.gguf";
  write_placement(path, c, plan.placement);
  DeploymentConfig ro;
  ro.engine = {1, n_ctx, 4, 0, true};
  ro.placement = path.string();
  ro.vram_budget = o.vram_budget;  // the runtime accepts the plan within the same budget
  ro.teams.assign(2, TeamConfig{0, {}, 1});
  ro.predictor = PredictorMode::oracle;
  ActorRuntime actors(w, ro);
  DenseEngine dense(w, {1, n_ctx, 4, 0, true});
  const std::vector<int32_t> tokens = random_tokens(12, 99, c.n_vocab);
  actors.eval(tokens, true);
  dense.eval(tokens, true);
  double diff = 0, scale = 0;
  for (int p = 0; p < static_cast<int>(tokens.size()); ++p) {
    const auto x = actors.logits(p), y = dense.logits(p);
    REQUIRE(x.size() == y.size());
    for (size_t v = 0; v < x.size(); ++v) {
      diff = std::max(diff, static_cast<double>(std::abs(x[v] - y[v])));
      scale = std::max(scale, static_cast<double>(std::abs(y[v])));
    }
  }
  INFO("max relative difference " << diff / scale);
  CHECK(diff / scale < 1e-5);
}

TEST_CASE("planner for the sparse runtime: hot neurons cost whole bundle records, and the sparse runtime accepts the plan") {
  auto w = ModelWeights::load(testing::small_relu_model("planner_tiny_sparse_q4_0", GgmlType::Q4_0, 5));
  const ModelConfig& c = w->config();
  ProfileOptions po;
  po.n_ctx = 64;
  po.n_threads = 2;
  const ActivationProfile profile = profile_activations(*w, random_tokens(192, 4, c.n_vocab), po);
  const int n_ctx = 256;
  // A Q4_0 bundle: gate and up rows (4 blocks of 18 bytes each) and down^T as Q8_0 (4 blocks of 34):
  // 2 * 72 + 136 = 280 bytes, padded to 320 (dense: 72 + 72 + 128 * 18 / 32 = 216 per neuron).
  CHECK(NeuronBundles::record_bytes_for(FfnWeights::of_layer(*w, 0)) == 320);
  const DeviceFootprint fixed = device_footprint(*w, {0, 0, 0}, n_ctx);
  PlanOptions o;
  o.n_ctx = n_ctx;
  o.sparse = true;
  o.vram_budget = fixed.total() + 300 * 320 + 100;
  const Plan plan = plan_placement(*w, profile, o);
  CHECK(plan.placement.n_hot() == 300);
  CHECK(plan.footprint.hot_ffn == 300u * 320u);

  const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "planner_placement_sparse.gguf";
  write_placement(path, c, plan.placement);
  DeploymentConfig ro;
  ro.engine = {1, n_ctx, 4, 0, false};
  ro.placement = path.string();
  ro.vram_budget = o.vram_budget;
  ro.teams.assign(1, TeamConfig{0, {}, 1});
  ro.sparse = true;
  CHECK_NOTHROW(ActorRuntime(w, ro));
  // A plan counted with dense bytes holds more neurons than the sparse runtime can fit.
  PlanOptions dense_o = o;
  dense_o.sparse = false;
  const Plan dense_plan = plan_placement(*w, profile, dense_o);
  CHECK(dense_plan.placement.n_hot() > 300);
  write_placement(path, c, dense_plan.placement);
  CHECK_THROWS_WITH_AS(ActorRuntime(w, ro), doctest::Contains("but the VRAM budget is"), std::invalid_argument);
}
