#include "topology/pinning.h"

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "topology/hwloc_util.h"

namespace actinfer::topology {

using detail::list_string;

namespace {

std::string all_pus(const Topology& topo) {
  std::vector<int> os;
  for (const ProcessingUnit& p : topo.pus()) os.push_back(p.os_index);
  return list_string(os);
}

#if defined(__linux__)
// The process's affinity: its main thread's (sched_getaffinity(0) would be the caller's).
bool process_mask(cpu_set_t& set) {
  CPU_ZERO(&set);
  return sched_getaffinity(getpid(), sizeof set, &set) == 0;
}
#endif

}  // namespace

std::vector<int> allowed_pus() {
  std::vector<int> out;
#if defined(__linux__)
  cpu_set_t set;
  if (!process_mask(set)) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
#endif
  return out;
}

void unpin_current_thread() {
#if defined(__linux__)
  cpu_set_t set;
  if (process_mask(set)) sched_setaffinity(0, sizeof set, &set);
#endif
}

PinResult pin_current_thread(const Topology& topo, std::span<const int> pus) {
  // Catch-all so that a bad_alloc from a message or bitmap cannot escape a thread's start.
  try {
    constexpr const char* kUnpinned = ": thread runs unpinned";
    if (pus.empty()) return {false, std::string("no PUs given to pin to") + kUnpinned};
    std::vector<int> missing;
    for (int pu : pus)
      if (!topo.find_pu(pu)) missing.push_back(pu);
    if (!missing.empty())
      return {false, (missing.size() == 1 ? "PU " + std::to_string(missing[0]) + " does not exist"
                                          : "PUs " + list_string(missing) + " do not exist") +
                         " in " + topo.source() + " (PUs " + all_pus(topo) + ")" + kUnpinned};
    if (topo.is_synthetic())
      return {false, "pinning to PUs " + list_string(pus) + " is only planned: " + topo.source() +
                         " is not this machine" + kUnpinned};
    detail::Bitmap set = detail::bitmap_of(pus);
    if (hwloc_set_cpubind(topo.handle(), set.get(), HWLOC_CPUBIND_THREAD) != 0)
      return {false, "binding the thread to PUs " + list_string(pus) + " failed (" + std::strerror(errno) + ")" +
                         kUnpinned};
    return {true, ""};
  } catch (const std::exception& e) {
    return {false, std::string("pinning failed (") + e.what() + "): thread runs unpinned"};
  }
}

std::optional<std::string> check_core_set(const Topology& topo, int numa_node, std::span<const int> pus) {
  const NumaNode* node = topo.find_node(numa_node);
  if (!node)
    return "NUMA node " + std::to_string(numa_node) + " does not exist: " + topo.source() + " has NUMA nodes " +
           (topo.numa_nodes().empty() ? std::string("none") : "0-" + std::to_string(topo.numa_nodes().size() - 1));
  const std::string node_name = "NUMA node " + std::to_string(numa_node);
  const std::string node_pus = node->pus.empty() ? "no PUs (memory only)" : "PUs " + list_string(node->pus);
  if (pus.empty()) return "core set for " + node_name + " is empty (the node has " + node_pus + ")";

  std::vector<std::string> problems;
  std::set<int> seen, reported_twice;
  for (int pu : pus) {
    if (!seen.insert(pu).second) {
      if (reported_twice.insert(pu).second) problems.push_back("PU " + std::to_string(pu) + " is listed more than once");
      continue;
    }
    const ProcessingUnit* p = topo.find_pu(pu);
    if (!p)
      problems.push_back("PU " + std::to_string(pu) + " does not exist in " + topo.source() + " (PUs " + all_pus(topo) +
                         ")");
    else if (!std::binary_search(node->pus.begin(), node->pus.end(), pu))
      problems.push_back("PU " + std::to_string(pu) + " is on NUMA node " + std::to_string(p->numa_node) + ", not " +
                         node_name + " (which has " + node_pus + ")");
  }
  if (problems.empty()) return std::nullopt;
  std::string msg;
  for (const std::string& m : problems) msg += (msg.empty() ? "" : "; ") + m;
  return msg;
}

void name_current_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace actinfer::topology
