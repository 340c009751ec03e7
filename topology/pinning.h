// Pinning a CPU-worker team's threads to its NUMA node's PUs, and checking the core sets
// a config gives before any thread starts. Pinning is best effort: a team that cannot be
// pinned still runs (slower, possibly on remote memory), so failures are warnings.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "topology/topology.h"

namespace actinfer::topology {

struct PinResult {
  bool pinned;
  std::string warning;  // empty when pinned; otherwise why not and what happens instead
};

// Binds the calling thread to the given PUs (OS indexes) of the real machine. Never
// throws. Not pinned, with a warning, when the list is empty, a PU does not exist in the
// topology, the topology is synthetic/XML (hwloc would report success and do nothing),
// or the kernel refuses (e.g. a cpuset cgroup). The thread then keeps running unpinned.
PinResult pin_current_thread(const Topology& topo, std::span<const int> pu_os_indexes);

// The PUs (OS indexes) this process may run on, ascending (its main thread's affinity
// mask: taskset, a cpuset); empty where the system cannot say.
std::vector<int> allowed_pus();

// Lets the calling thread run on every PU of allowed_pus(). A thread inherits the affinity
// of the thread that starts it: engine/thread_pool.h's start_thread frees each thread so.
void unpin_current_thread();

// Names the calling thread as `top -H`, perf and gdb show it (Linux keeps at most 15
// bytes: longer names are cut). Never throws; a name the system refuses is left unset.
void name_current_thread(const std::string& name);

// For configs: nullopt if every PU exists, appears once and belongs to NUMA node
// `numa_node` (logical index) and the set is not empty; otherwise one message naming
// each bad PU or the bad node.
std::optional<std::string> check_core_set(const Topology& topo, int numa_node, std::span<const int> pus);

}  // namespace actinfer::topology
