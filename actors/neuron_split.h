// Splits each layer's FFN neurons between the gpu-worker (hot) and the CPU-worker
// teams (cold shards). Boundaries fall on the down projection's quantization
// blocks, so every shard owns whole blocks and can be copied out on its own.
#pragma once
#include <vector>

#include "engine/neuron_slice.h"

namespace actinfer {

struct NeuronSplit {
  NeuronSlice hot;                 // global neuron indices
  std::vector<NeuronRun> cold;     // one contiguous run per team (may be empty)
};

// hot = the first hot_fraction of n_neurons (rounded to `block`), the rest split
// evenly over n_teams. Throws std::invalid_argument for a fraction outside [0, 1].
NeuronSplit split_neurons(int n_neurons, double hot_fraction, int n_teams, int block);

}  // namespace actinfer
