#include "actors/neuron_split.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace actinfer {

NeuronSplit split_neurons(int n, double hot_fraction, int n_teams, int block) {
  if (!(hot_fraction >= 0.0 && hot_fraction <= 1.0))
    throw std::invalid_argument("hot fraction must be in [0, 1], got " + std::to_string(hot_fraction));
  if (n_teams < 0 || block <= 0) throw std::invalid_argument("split_neurons: bad team count or block size");
  const int n_blocks = (n + block - 1) / block;
  int hot_blocks = static_cast<int>(std::lround(hot_fraction * n_blocks));
  if (n_teams == 0) hot_blocks = n_blocks;  // nobody else to take cold neurons
  NeuronSplit s;
  const int hot_end = std::min(n, hot_blocks * block);
  if (hot_end > 0) s.hot.runs.push_back({0, hot_end});
  const int cold_blocks = n_blocks - hot_blocks;
  for (int t = 0; t < n_teams; ++t) {
    const int b0 = hot_blocks + cold_blocks * t / n_teams;
    const int b1 = hot_blocks + cold_blocks * (t + 1) / n_teams;
    s.cold.push_back({std::min(n, b0 * block), std::min(n, b1 * block)});
  }
  return s;
}

}  // namespace actinfer
