// NodeLocalBuffer: bound on the real machine, an explained fallback elsewhere, freed once.
#include <doctest/doctest.h>
#include <hwloc.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "topology/huge_page_allocator.h"
#include "topology/node_memory.h"
#include "tests/text_contains.h"

using namespace actinfer::topology;
using actinfer::testing::contains;

namespace {

constexpr size_t kMiB = size_t{1} << 20;

// The kernel's policy for the page at addr, asked directly (not through hwloc).
struct KernelPolicy {
  int mode = -1;
  std::vector<int> nodes;
};
KernelPolicy kernel_policy(const void* addr) {
  KernelPolicy p;
  unsigned long mask[16] = {};  // 1024 nodes: at least the kernel's MAX_NUMNODES here
  long r = syscall(SYS_get_mempolicy, &p.mode, mask, 1024ul, const_cast<void*>(addr), (unsigned long)MPOL_F_ADDR);
  REQUIRE_MESSAGE(r == 0, "get_mempolicy: " << std::strerror(errno));
  for (int n = 0; n < 1024; ++n)
    if (mask[n / 64] >> (n % 64) & 1) p.nodes.push_back(n);
  return p;
}

// Whether [addr, addr+len) is mapped: mincore fails with ENOMEM on unmapped pages.
bool mapped(const void* addr, size_t len) {
  std::vector<unsigned char> vec((len + 4095) / 4096 + 1);
  return mincore(const_cast<void*>(addr), len, vec.data()) == 0;
}

void fill_and_check(NodeLocalBuffer& b) {
  REQUIRE(b.data() != nullptr);
  std::memset(b.data(), 0x5a, b.size());
  CHECK(b.data()[0] == std::byte{0x5a});
  CHECK(b.data()[b.size() - 1] == std::byte{0x5a});
  CHECK(reinterpret_cast<uintptr_t>(b.data()) % 4096 == 0);
}

}  // namespace

TEST_CASE("node memory: node 0 of this machine is bound to it") {
  Topology t = Topology::discover();
  NodeLocalBuffer b = NodeLocalBuffer::allocate(t, 0, 4 * kMiB + 123);
  INFO("warning: " << b.warning());
  REQUIRE(b.bound());
  CHECK(b.warning().empty());
  CHECK(b.node() == 0);
  CHECK(b.size() == 4 * kMiB + 123);
  fill_and_check(b);
  const int os = t.numa_nodes()[0].os_index;

  // hwloc's view of the area's policy...
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  hwloc_membind_policy_t policy;
  REQUIRE(hwloc_get_area_membind(t.handle(), b.data(), b.size(), set, &policy, HWLOC_MEMBIND_BYNODESET) == 0);
  CHECK(policy == HWLOC_MEMBIND_BIND);
  CHECK(hwloc_bitmap_weight(set) == 1);
  CHECK(hwloc_bitmap_isset(set, static_cast<unsigned>(os)));
  // ...and where the touched pages actually are.
  REQUIRE(hwloc_get_area_memlocation(t.handle(), b.data(), b.size(), set, HWLOC_MEMBIND_BYNODESET) == 0);
  CHECK(hwloc_bitmap_weight(set) == 1);
  CHECK(hwloc_bitmap_isset(set, static_cast<unsigned>(os)));
  hwloc_bitmap_free(set);

  // The kernel's own answer, first and last page.
  for (const std::byte* p : {b.data(), b.data() + b.size() - 1}) {
    KernelPolicy k = kernel_policy(p);
    CHECK(k.mode == MPOL_BIND);
    CHECK(k.nodes == std::vector<int>{os});
  }
}

TEST_CASE("node memory: a missing node of this machine falls back, and says so") {
  Topology t = Topology::discover();
  const int missing = static_cast<int>(t.numa_nodes().size());
  NodeLocalBuffer b = NodeLocalBuffer::allocate(t, missing, kMiB);
  CHECK_FALSE(b.bound());
  CHECK(b.node() == missing);
  CHECK(contains(b.warning(), "NUMA node " + std::to_string(missing) + " does not exist in this machine"));
  CHECK(contains(b.warning(), "using ordinary unbound memory instead"));
  CHECK(b.size() == kMiB);
  fill_and_check(b);
  CHECK(kernel_policy(b.data()).mode == MPOL_DEFAULT);
}

TEST_CASE("node memory: a synthetic node falls back, and says so") {
  Topology t = Topology::synthetic("pack:2 numa:1 core:4 pu:1");
  NodeLocalBuffer b = NodeLocalBuffer::allocate(t, 1, 3 * kMiB);
  CHECK_FALSE(b.bound());
  CHECK(b.node() == 1);
  CHECK(b.warning() ==
        "synthetic topology \"pack:2 numa:1 core:4 pu:1\" is not this machine, so NUMA node 1 cannot be bound: "
        "using ordinary unbound memory instead");
  fill_and_check(b);
  CHECK(kernel_policy(b.data()).mode == MPOL_DEFAULT);

  NodeLocalBuffer empty = NodeLocalBuffer::allocate(t, 0, 0);
  CHECK(empty.data() == nullptr);
  CHECK(empty.size() == 0);
  CHECK_FALSE(empty.bound());
  CHECK(contains(empty.warning(), "nothing allocated"));
}

TEST_CASE("node memory: moves hand the memory over and it is freed exactly once") {
  Topology real = Topology::discover();
  Topology synth = Topology::synthetic("pack:2 numa:1 core:4 pu:1");
  for (const Topology* t : {&real, &synth}) {
    CAPTURE(t->source());
    const size_t size = 8 * kMiB;
    std::byte* first = nullptr;
    NodeLocalBuffer c;
    {
      NodeLocalBuffer a = NodeLocalBuffer::allocate(*t, 0, size);
      first = a.data();
      const bool was_bound = a.bound();
      NodeLocalBuffer b(std::move(a));
      CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
      CHECK(a.size() == 0);
      CHECK_FALSE(a.bound());
      CHECK(b.data() == first);
      CHECK(b.bound() == was_bound);
      CHECK(b.node() == 0);

      c = NodeLocalBuffer::allocate(*t, 0, size);
      std::byte* second = c.data();
      REQUIRE(mapped(second, size));
      c = std::move(b);  // frees c's old memory, takes b's
      CHECK(!mapped(second, size));
      CHECK(c.data() == first);
      CHECK(b.data() == nullptr);  // NOLINT(bugprone-use-after-move)
      auto& self = c;
      c = std::move(self);  // self-move keeps the memory
      CHECK(c.data() == first);
    }  // a and b die here: neither may free what c now owns
    REQUIRE(mapped(first, size));
    fill_and_check(c);
    c = NodeLocalBuffer();
    CHECK(!mapped(first, size));
  }
}

TEST_CASE("node memory: a buffer outlives the Topology it came from") {
  NodeLocalBuffer b;
  {
    Topology t = Topology::discover();
    b = NodeLocalBuffer::allocate(t, 0, kMiB);
  }
  fill_and_check(b);
  b = NodeLocalBuffer();  // freed through the topology the buffer kept alive
}

TEST_CASE("huge page allocator: large blocks are their own 2 MiB-aligned zeroed mappings, small ones heap memory") {
  using actinfer::topology::HugePageAllocator;
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  HugePageAllocator<float> a;
  for (size_t n : {size_t{1} << 19, (size_t{5} << 20) / 4 + 3}) {  // exactly 2 MiB, and 5 MiB + 12 bytes
    float* p = a.allocate(n);
    CHECK(reinterpret_cast<uintptr_t>(p) % kHuge == 0);
    // The mapping covers whole huge pages from p (what deallocate unmaps).
    const size_t mapped = HugePageAllocator<float>::mapped_bytes(n);
    CHECK(mapped % kHuge == 0);
    CHECK(mapped >= n * sizeof(float));
    unsigned char in_core = 0;
    CHECK(mincore(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) + mapped - 4096), 4096, &in_core) == 0);
    bool zero = true;
    for (size_t i = 0; i < n; i += 997) zero = zero && p[i] == 0.0f;
    CHECK(zero);
    p[0] = 1.0f, p[n - 1] = 2.0f;
    a.deallocate(p, n);
    CHECK(mincore(p, 4096, &in_core) == -1);  // gone
  }
  float* small = a.allocate(100);
  small[99] = 3.0f;
  CHECK(small[99] == 3.0f);
  a.deallocate(small, 100);
  // The KV cache's vector type: a large one works like any vector.
  std::vector<float, HugePageAllocator<float>> v(size_t{3} << 20, 1.5f);
  CHECK(v.back() == 1.5f);
  CHECK(reinterpret_cast<uintptr_t>(v.data()) % kHuge == 0);
}
