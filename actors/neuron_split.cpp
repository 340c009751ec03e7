#include "actors/neuron_split.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace actinfer {
namespace {

std::vector<NeuronRun> even_ranges(int first_block, int n_blocks_total, int n, int n_teams, int block) {
  std::vector<NeuronRun> r;
  const int blocks = n_blocks_total - first_block;
  for (int t = 0; t < n_teams; ++t) {
    const int b0 = first_block + blocks * t / n_teams;
    const int b1 = first_block + blocks * (t + 1) / n_teams;
    r.push_back({std::min(n, b0 * block), std::min(n, b1 * block)});
  }
  return r;
}

}  // namespace

bool NeuronSplit::team_owns(int layer, int team, int32_t i) const {
  const NeuronRun& r = team_ranges[static_cast<size_t>(team)];
  if (i < r.begin || i >= r.end) return false;
  const auto& hot = layers[static_cast<size_t>(layer)].hot_flags;
  return hot.empty() || !hot[static_cast<size_t>(i)];
}

std::vector<uint8_t> NeuronSplit::team_mask(int layer, int team, const std::vector<uint8_t>& active) const {
  const NeuronRun& r = team_ranges[static_cast<size_t>(team)];
  const auto& hot = layers[static_cast<size_t>(layer)].hot_flags;
  if (active.empty() && hot.empty()) return {};
  std::vector<uint8_t> mask(static_cast<size_t>(r.end - r.begin));
  for (int32_t i = r.begin; i < r.end; ++i)
    mask[static_cast<size_t>(i - r.begin)] = (active.empty() || active[static_cast<size_t>(i)]) && team_owns(layer, team, i);
  return mask;
}

bool NeuronSplit::team_has_work(int layer, int team, const std::vector<uint8_t>& active) const {
  const NeuronRun& r = team_ranges[static_cast<size_t>(team)];
  for (int32_t i = r.begin; i < r.end; ++i)
    if ((active.empty() || active[static_cast<size_t>(i)]) && team_owns(layer, team, i)) return true;
  return false;
}

bool NeuronSplit::hot_has_work(int layer, const std::vector<uint8_t>& active) const {
  for (const NeuronRun& r : layers[static_cast<size_t>(layer)].hot.runs) {
    if (active.empty()) return true;
    for (int32_t i = r.begin; i < r.end; ++i)
      if (active[static_cast<size_t>(i)]) return true;
  }
  return false;
}

int64_t NeuronSplit::n_hot() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.hot.count();
  return n;
}

std::vector<std::vector<int32_t>> NeuronSplit::hot_neurons() const {
  std::vector<std::vector<int32_t>> out;
  for (const auto& l : layers) {
    auto& v = out.emplace_back();
    for (const NeuronRun& r : l.hot.runs)
      for (int32_t i = r.begin; i < r.end; ++i) v.push_back(i);
  }
  return out;
}

std::vector<std::vector<int32_t>> NeuronSplit::team_neurons(int team) const {
  std::vector<std::vector<int32_t>> out;
  const NeuronRun& r = team_ranges[static_cast<size_t>(team)];
  for (size_t l = 0; l < layers.size(); ++l) {
    auto& v = out.emplace_back();
    for (int32_t i = r.begin; i < r.end; ++i)
      if (team_owns(static_cast<int>(l), team, i)) v.push_back(i);
  }
  return out;
}

NeuronSplit split_by_fraction(int n_layers, int n, double hot_fraction, int n_teams, int block) {
  if (!(hot_fraction >= 0.0 && hot_fraction <= 1.0))
    throw std::invalid_argument("hot fraction must be in [0, 1], got " + std::to_string(hot_fraction));
  if (n_teams < 0 || block <= 0) throw std::invalid_argument("split: bad team count or block size");
  const int n_blocks = (n + block - 1) / block;
  int hot_blocks = static_cast<int>(std::lround(hot_fraction * n_blocks));
  if (n_teams == 0) hot_blocks = n_blocks;  // nobody else to take cold neurons
  const int hot_end = std::min(n, hot_blocks * block);
  NeuronSplit s;
  s.layers.resize(static_cast<size_t>(n_layers));
  for (auto& l : s.layers)
    if (hot_end > 0) l.hot.runs.push_back({0, hot_end});
  s.team_ranges = even_ranges(hot_blocks, n_blocks, n, n_teams, block);
  return s;
}

NeuronSplit split_by_placement(const Placement& p, int n_teams, int block) {
  if (p.hot.empty()) throw std::invalid_argument("split: empty placement");
  const int n = static_cast<int>(p.hot[0].size());
  if (n_teams == 0 && p.n_hot() != static_cast<int64_t>(p.hot.size()) * n)
    throw std::invalid_argument("the placement leaves cold neurons but no CPU-worker team is configured");
  NeuronSplit s;
  for (const auto& flags : p.hot) s.layers.push_back({NeuronSlice::from_flags(flags), flags});
  s.team_ranges = even_ranges(0, (n + block - 1) / block, n, n_teams, block);
  return s;
}

}  // namespace actinfer
