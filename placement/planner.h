// The placement planner (`actinfer plan`): which FFN neurons the gpu-worker
// holds, given an activation profile and a VRAM budget. As in PowerInfer (see
// shared/FACTS.md): the fixed parts (attention and norms, the output head, the
// KV cache, predictors) are charged first; the VRAM left goes to the FFN
// neurons that fire most often, so that as many firings as possible are served
// by the gpu-worker.
//
// The optimisation. A layer's neurons are sorted by fire count (ties: lower
// index first) and cut into units of `block` neurons (the last unit of a layer
// may be shorter). A unit's value is the sum of its neurons' counts, its cost
// `size x the layer's bytes per neuron` (gate row + up row + share of down, as
// device_footprint counts them: layers of different weight types cost
// differently). Within a layer the best units are always the highest-count
// ones, so a plan is a prefix length k_l per layer:
//     maximise  sum_l value_l(k_l)   subject to   sum_l cost_l(k_l) <= budget.
// Each layer's value/cost ratio does not increase along its prefix, which is
// what the greedy below relies on.
#pragma once
#include <cstdint>
#include <vector>

#include "backends/backend.h"
#include "engine/profiler.h"
#include "model/model_weights.h"
#include "model/placement.h"

namespace actinfer {

struct PlanOptions {
  uint64_t vram_budget = 0;      // bytes the gpu-worker may hold
  int n_ctx = 2048;              // KV cache length (capped at the model's training context, as the runtime does)
  int block = 1;                 // neurons per placement unit
  uint64_t predictor_bytes = 0;  // predictors held on the device (not part of DeviceFootprint)
  bool sparse = false;           // hot neurons held as neuron bundles (the sparse runtime)
  KvCacheType cache_type = KvCacheType::F16;  // --cache-type: F16 halves the KV cache's share
};

struct Plan {
  Placement placement;
  DeviceFootprint footprint;          // of the chosen hot set (predictors not included)
  double served_fraction = 0;         // expected share of all profiled firings served by the gpu-worker
  std::vector<int64_t> hot_per_layer;
  uint64_t fixed_bytes = 0;           // attention + lm_head + KV cache + predictors
  uint64_t ffn_budget = 0;            // vram_budget - fixed_bytes: what the FFN neurons may use
  uint64_t hot_fired = 0, total_fired = 0;  // firings of hot neurons / of all neurons in the profile
};

// Greedy by marginal value per byte. Throws std::invalid_argument when the
// fixed parts alone exceed the budget (naming each part's bytes), for a
// profile of another shape, or for block < 1 / n_ctx < 1.
Plan plan_placement(const ModelWeights& w, const ActivationProfile& profile, const PlanOptions& o);
// The same with the exact dynamic program (select_units_exact); for small
// instances only (tests check the greedy against it).
Plan plan_placement_exact(const ModelWeights& w, const ActivationProfile& profile, const PlanOptions& o);

// The abstract problem, exposed for tests. Each layer lists its units in
// prefix order; value/cost should not increase along a layer (the greedy's
// guarantee needs it; the exact solver does not).
struct UnitLayer {
  std::vector<uint64_t> value;  // per unit
  std::vector<uint64_t> cost;   // per unit, bytes (> 0)
};

// Units taken per layer (a prefix of each). Greedy: all units of all layers in
// order of value/cost, highest first (ties: lower layer, then earlier unit);
// a unit is taken when it fits in what is left and its layer's previous unit
// was taken, otherwise its layer is closed.
// Guarantee: when every unit costs the same, the result is optimal (it takes
// the floor(budget/cost) most valuable units, which form prefixes). Otherwise
// value(greedy) >= OPT - max unit value: the fractional relaxation is solved
// exactly by the same order (ratios do not increase within a layer), and the
// greedy loses at most the part of the first unit that did not fit.
std::vector<int> select_units_greedy(const std::vector<UnitLayer>& layers, uint64_t budget);
// Exact: dynamic program over layers x budget in units of the gcd of all unit
// costs. Throws std::invalid_argument when the table would exceed max_cells
// (layers x capacity) or the work (capacity x units, summed over layers)
// max_cells x 64: too big an instance.
std::vector<int> select_units_exact(const std::vector<UnitLayer>& layers, uint64_t budget, uint64_t max_cells = uint64_t{1} << 25);
// Sum of the values / costs of the chosen prefixes.
uint64_t units_value(const std::vector<UnitLayer>& layers, const std::vector<int>& taken);
uint64_t units_cost(const std::vector<UnitLayer>& layers, const std::vector<int>& taken);

}  // namespace actinfer
