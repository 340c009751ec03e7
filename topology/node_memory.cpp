#include "topology/node_memory.h"

#include <hwloc.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "topology/hwloc_util.h"

namespace actinfer::topology {

namespace {

std::string size_string(size_t bytes) {
  return bytes >= (size_t{1} << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes) + " bytes";
}

}  // namespace

NodeLocalBuffer NodeLocalBuffer::allocate(const Topology& topo, int numa_node, size_t bytes) {
  NodeLocalBuffer b;
  b.node_ = numa_node;
  b.topo_ = topo;
  if (bytes == 0) {
    b.warning_ = "0 bytes asked for NUMA node " + std::to_string(numa_node) + ": nothing allocated";
    return b;
  }

  const NumaNode* node = topo.find_node(numa_node);
  std::string why;
  if (!node) {
    why = "NUMA node " + std::to_string(numa_node) + " does not exist in " + topo.source();
  } else if (topo.is_synthetic()) {
    why = topo.source() + " is not this machine, so NUMA node " + std::to_string(numa_node) + " cannot be bound";
  } else {
    detail::Bitmap nodeset = detail::make_bitmap();
    hwloc_bitmap_set(nodeset.get(), static_cast<unsigned>(node->os_index));
    // STRICT: without it hwloc returns unbound memory when binding fails and says nothing.
    // NOCPUBIND: never let a memory-binding fallback move the calling thread.
    void* p = hwloc_alloc_membind(topo.handle(), bytes, nodeset.get(), HWLOC_MEMBIND_BIND,
                                  HWLOC_MEMBIND_STRICT | HWLOC_MEMBIND_NOCPUBIND | HWLOC_MEMBIND_BYNODESET);
    if (p) {
      advise_huge_pages(p, bytes);
      b.data_ = static_cast<std::byte*>(p);
      b.size_ = bytes;
      b.bound_ = true;
      return b;
    }
    why = "binding " + size_string(bytes) + " to NUMA node " + std::to_string(numa_node) + " (os " +
          std::to_string(node->os_index) + ") failed (" + std::strerror(errno) + ")";
  }

  // Fallback: anonymous pages like hwloc's, placed by the kernel's default policy.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw std::runtime_error("cannot allocate " + size_string(bytes) + " for NUMA node " + std::to_string(numa_node) +
                             ": " + std::strerror(errno) + " (after: " + why + ")");
  advise_huge_pages(p, bytes);
  b.data_ = static_cast<std::byte*>(p);
  b.size_ = bytes;
  b.warning_ = why + ": using ordinary unbound memory instead";
  return b;
}

void advise_huge_pages(void* p, size_t bytes) {
#if defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto lo = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) / kHuge * kHuge;
  const auto hi = (reinterpret_cast<uintptr_t>(p) + bytes) / kHuge * kHuge;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

NodeLocalBuffer& NodeLocalBuffer::operator=(NodeLocalBuffer&& other) noexcept {
  if (this != &other) {
    release();
    take(other);
  }
  return *this;
}

void NodeLocalBuffer::take(NodeLocalBuffer& other) noexcept {
  topo_ = std::move(other.topo_);
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  bound_ = std::exchange(other.bound_, false);
  node_ = std::exchange(other.node_, -1);
  warning_ = std::move(other.warning_);
  other.topo_.reset();
  other.warning_.clear();
}

void NodeLocalBuffer::release() noexcept {
  if (data_) {
    if (bound_) hwloc_free(topo_->handle(), data_, size_);
    else munmap(data_, size_);
  }
  data_ = nullptr;
  size_ = 0;
  bound_ = false;
  topo_.reset();
}

}  // namespace actinfer::topology
