// The on-start hook of a worker team: name thread i `thread_prefix` + i (top -H, perf
// sched and gdb then tell the teams' threads apart), and pin it to one of `pus` (round
// robin), warning once per thread when that cannot be done. Thread 0, the caller, is pinned
// by pin_caller_to.
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "topology/pinning.h"
#include "topology/topology.h"

namespace actinfer::actors {

// Pins the calling thread to `pu`; when that cannot be done, says so on stderr for `who`.
inline void pin_or_warn(const topology::Topology& topo, int pu, const std::string& who) {
  const auto r = topology::pin_current_thread(topo, std::span<const int>(&pu, 1));
  if (!r.pinned) std::fprintf(stderr, "[actinfer] %s: %s\n", who.c_str(), r.warning.c_str());
}

inline std::function<void(int)> pin_threads_to(std::shared_ptr<const topology::Topology> topo, std::vector<int> pus,
                                                std::string team, std::string thread_prefix) {
  return [topo, pus, team, thread_prefix](int i) {
    topology::name_current_thread(thread_prefix + std::to_string(i));
    if (pus.empty() || !topo) return;  // start_thread left it free to run on any allowed core
    pin_or_warn(*topo, pus[static_cast<size_t>(i) % pus.size()], team + " thread " + std::to_string(i));
  };
}

// A pool's caller hook (ThreadPool::set_caller_hook): pin the thread that calls its tasks
// to `pu`, as its thread 0, warning when that cannot be done; the thread keeps its name.
inline std::function<void()> pin_caller_to(std::shared_ptr<const topology::Topology> topo, int pu, std::string team) {
  return [topo, pu, team] {
    if (topo) pin_or_warn(*topo, pu, team + " calling thread");
  };
}

}  // namespace actinfer::actors
