// The machine's shape as hwloc sees it: packages, NUMA nodes and processing units (PUs).
// CPU-worker teams are placed per NUMA node from this. A topology can also be synthetic
// (an hwloc description such as "pack:2 numa:1 core:4 pu:1") or read from an hwloc XML
// export, so that multi-socket placement can be planned and tested on any machine;
// such a topology only plans, it cannot pin threads or bind memory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

struct hwloc_topology;  // hwloc_topology_t is hwloc_topology*; <hwloc.h> stays out of includers.

namespace actinfer::topology {

// core, numa_node and package are hwloc logical indexes (0..n-1 in topology order);
// -1 where the topology has no such object above the PU.
struct ProcessingUnit {
  int os_index;
  int core;
  int numa_node;
  int package;
};

struct NumaNode {
  int index;               // logical index: what configs and the functions here take
  int os_index;            // the kernel's node number (what numactl and /sys show)
  int package;             // logical package holding it; -1 if it spans several or none
  std::vector<int> pus;    // OS indexes of its PUs, ascending; empty for a memory-only node
  uint64_t memory_bytes;   // local memory as reported by hwloc (0 if unknown)
};

class Topology {
 public:
  static Topology discover();  // this machine; throws std::runtime_error if hwloc fails
  // An hwloc synthetic description. Throws std::invalid_argument naming the string and
  // carrying hwloc's explanation when hwloc rejects it.
  static Topology synthetic(const std::string& description);
  // An hwloc XML export (lstopo foo.xml, or export_xml()). Throws std::invalid_argument
  // for a missing, unreadable or malformed file.
  static Topology from_xml(const std::filesystem::path& path);
  // A config value: "" or "real" -> discover(); "synthetic:<description>"; "xml:<path>".
  // Surrounding whitespace is ignored. Throws std::invalid_argument for anything else.
  static Topology from_spec(const std::string& spec);

  // True for synthetic and XML topologies: pinning and memory binding are only planned.
  bool is_synthetic() const { return synthetic_; }
  // "this machine", "synthetic topology \"...\"" or "XML topology '...'": for messages.
  const std::string& source() const { return source_; }

  const std::vector<NumaNode>& numa_nodes() const { return nodes_; }
  int n_packages() const { return n_packages_; }  // 0 if hwloc found no package objects
  int n_cores() const { return n_cores_; }
  const std::vector<ProcessingUnit>& pus() const { return pus_; }  // hwloc logical order
  const ProcessingUnit* find_pu(int os_index) const;  // nullptr if absent
  const NumaNode* find_node(int index) const;          // by logical index; nullptr if absent

  // A summary line, then one line per NUMA node with its package and PUs.
  std::string describe() const;
  // The topology as hwloc XML; from_xml() reads it back.
  std::string export_xml() const;
  hwloc_topology* handle() const { return topo_.get(); }

 private:
  Topology(std::shared_ptr<hwloc_topology> loaded, std::string source);
  std::shared_ptr<hwloc_topology> topo_;  // shared: copies are cheap; hwloc reads are thread-safe
  std::string source_;
  bool synthetic_ = false;
  int n_packages_ = 0;
  int n_cores_ = 0;
  std::vector<NumaNode> nodes_;
  std::vector<ProcessingUnit> pus_;
};

// A node's PUs in placement order: the first PU of every core, then the second PU of
// every core (SMT siblings), and so on. Thread i of a team of any size goes to
// result[i % result.size()], which fills cores before sharing them. Empty if the node
// does not exist or has no PUs.
std::vector<int> pus_of_node(const Topology& topo, int numa_node);

}  // namespace actinfer::topology
