// An allocator for large, long-lived buffers read at random places every step (the KV
// cache): blocks of 2 MiB or more are their own 2 MiB-aligned anonymous mappings with
// transparent huge pages asked for (advise_huge_pages), so a pass over scattered rows does
// not pay a TLB miss per 4 KiB page (costly under virtualisation's two-level page walks).
// Smaller blocks come from operator new. Memory from the kernel's mappings is zero.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "topology/node_memory.h"

namespace actinfer::topology {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t{2} << 20;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  static size_t mapped_bytes(size_t n) { return (n * sizeof(T) + kHuge - 1) / kHuge * kHuge; }

  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T) - kHuge) throw std::bad_array_new_length();
    if (n * sizeof(T) < kHuge) return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
    // Map one huge page more than needed and unmap what lies outside the aligned range,
    // so deallocate() knows the mapping from the pointer and the count alone.
    const size_t bytes = mapped_bytes(n);
    void* p = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (base + kHuge - 1) / kHuge * kHuge;
    if (aligned > base) munmap(p, aligned - base);
    if (const uintptr_t end = base + bytes + kHuge; end > aligned + bytes) munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
    advise_huge_pages(reinterpret_cast<void*>(aligned), bytes);
    return reinterpret_cast<T*>(aligned);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < kHuge) ::operator delete(p, std::align_val_t{alignof(T)});
    else munmap(p, mapped_bytes(n));
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
};

}  // namespace actinfer::topology
