// Memory bound to one NUMA node: where a CPU-worker team keeps its share of the weights,
// so that its pinned threads read local DRAM. Binding is best effort like pinning, but
// never silent: when the memory cannot be bound (synthetic topology, missing node, no
// kernel support) the buffer is ordinary page-aligned memory and warning() says why.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

#include "topology/topology.h"

namespace actinfer::topology {

class NodeLocalBuffer {
 public:
  NodeLocalBuffer() = default;  // empty: data() == nullptr, size() == 0
  // `bytes` of page-aligned memory for NUMA node `numa_node` (logical index), bound with
  // hwloc_alloc_membind(BIND, STRICT): pages are placed on that node when first touched,
  // whichever thread touches them. Contents are unspecified. Throws std::runtime_error
  // only if no memory at all can be had.
  static NodeLocalBuffer allocate(const Topology& topo, int numa_node, size_t bytes);

  ~NodeLocalBuffer() { release(); }
  NodeLocalBuffer(NodeLocalBuffer&& other) noexcept { take(other); }
  NodeLocalBuffer& operator=(NodeLocalBuffer&& other) noexcept;
  NodeLocalBuffer(const NodeLocalBuffer&) = delete;
  NodeLocalBuffer& operator=(const NodeLocalBuffer&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool bound() const { return bound_; }
  const std::string& warning() const { return warning_; }  // empty when bound
  int node() const { return node_; }                       // the node asked for

 private:
  void release() noexcept;
  void take(NodeLocalBuffer& other) noexcept;
  std::optional<Topology> topo_;  // bound memory must be freed through the same hwloc topology
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool bound_ = false;
  int node_ = -1;
  std::string warning_;
};

// Asks the kernel for transparent huge pages over the whole 2 MiB pages inside
// [p, p + bytes), before they are first touched: sparse kernels read scattered
// neuron records, and with 4 KiB pages nearly every record costs a TLB miss.
// A hint: failure (no THP, other OS) is harmless.
void advise_huge_pages(void* p, size_t bytes);

}  // namespace actinfer::topology
