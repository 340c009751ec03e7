// The on-start hook of a worker team: name thread i `thread_prefix` + i (top -H, perf
// sched and gdb then tell the teams' threads apart), and pin it to one of `pus` (round
// robin), warning once per thread when that cannot be done.
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "topology/pinning.h"
#include "topology/topology.h"

namespace actinfer::actors {

inline std::function<void(int)> pin_threads_to(std::shared_ptr<const topology::Topology> topo, std::vector<int> pus,
                                                std::string team, std::string thread_prefix) {
  return [topo, pus, team, thread_prefix](int i) {
    topology::name_current_thread(thread_prefix + std::to_string(i));
    if (pus.empty() || !topo) return;
    const int pu = pus[static_cast<size_t>(i) % pus.size()];
    const auto r = topology::pin_current_thread(*topo, std::span<const int>(&pu, 1));
    if (!r.pinned) std::fprintf(stderr, "[actinfer] %s thread %d: %s\n", team.c_str(), i, r.warning.c_str());
  };
}

}  // namespace actinfer::actors
