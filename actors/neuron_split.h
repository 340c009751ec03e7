// Splits each layer's FFN neurons between the gpu-worker (hot) and the CPU-worker
// teams (cold). Each team owns one block-aligned range of neuron indices (the
// down projection's quantization blocks), so its shard can be copied out on its
// own; within that range it computes the neurons that are not hot.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/neuron_slice.h"
#include "model/placement.h"

namespace actinfer {

struct LayerSplit {
  NeuronSlice hot;                  // global neuron indices of the gpu-worker
  std::vector<uint8_t> hot_flags;   // one per neuron; empty when hot is one leading run
};

struct NeuronSplit {
  std::vector<LayerSplit> layers;
  std::vector<NeuronRun> team_ranges;  // one per team, the same for every layer

  // Whether neuron i of layer l belongs to team t (in its range and not hot).
  bool team_owns(int layer, int team, int32_t i) const;
  // The flags a worker computes with: active ∩ its own neurons, over [begin, end)
  // of the global indices. Empty result means "all of them" (no mask needed).
  std::vector<uint8_t> team_mask(int layer, int team, const std::vector<uint8_t>& active) const;
  bool team_has_work(int layer, int team, const std::vector<uint8_t>& active) const;
  bool hot_has_work(int layer, const std::vector<uint8_t>& active) const;
  int64_t n_hot() const;
  // Per layer, the increasing global indices a worker computes (for its neuron shard).
  std::vector<std::vector<int32_t>> hot_neurons() const;
  std::vector<std::vector<int32_t>> team_neurons(int team) const;
};

// hot = the first hot_fraction of the neurons (rounded to `block`), the rest split
// evenly over the teams. Throws std::invalid_argument for a fraction outside [0, 1].
NeuronSplit split_by_fraction(int n_layers, int n_neurons, double hot_fraction, int n_teams, int block);
// hot = the placement's neurons; teams take even block ranges of all neurons and
// compute the cold ones inside them.
NeuronSplit split_by_placement(const Placement& placement, int n_teams, int block);

}  // namespace actinfer
