#include "actors/ffn_fanout.h"

#include <numeric>

namespace actinfer::actors {

using namespace protocol;

void finish_active_set(ActiveSet& active, int n_neurons, bool sparse) {
  active.flags.assign(static_cast<size_t>(n_neurons), 0);
  for (const auto& list : active.per_token)
    for (int32_t i : list) active.flags[static_cast<size_t>(i)] = 1;
  if (!sparse) active.per_token.clear();
}

ActiveSetPtr every_neuron(int n_tokens, int n_neurons, bool sparse) {
  auto all = std::make_shared<ActiveSet>();
  if (sparse) {
    std::vector<int32_t> list(static_cast<size_t>(n_neurons));
    std::iota(list.begin(), list.end(), 0);
    all->per_token.assign(static_cast<size_t>(n_tokens), list);
  }
  return all;
}

std::vector<CpuWorkerActor> cold_recipients(const Wiring& wiring, const NeuronSplit& split, int layer, const ActiveSet& active) {
  std::vector<CpuWorkerActor> r;
  for (size_t i = 0; i < split.team_ranges.size(); ++i)
    if (split.team_has_work(layer, static_cast<int>(i), active.flags)) r.push_back(wiring.cpu_workers[i]);
  return r;
}

}  // namespace actinfer::actors
