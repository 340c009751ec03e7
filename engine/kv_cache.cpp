#include "engine/kv_cache.h"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace actinfer {
namespace {

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

void check_kv_cache_fits(int n_layers, int n_ctx, int kv_dim, uint64_t memory_bytes) {
  if (n_layers < 0 || n_ctx < 0 || kv_dim < 0)
    throw std::invalid_argument("KV cache: negative size (layers " + std::to_string(n_layers) + ", ctx " +
                                std::to_string(n_ctx) + ", kv_dim " + std::to_string(kv_dim) + ")");
  // In double: the product of three ints can pass 2^64 before the comparison.
  const double bytes = 2.0 * n_layers * static_cast<double>(n_ctx) * kv_dim * sizeof(float);
  if (memory_bytes > 0 && bytes > static_cast<double>(memory_bytes))
    throw std::runtime_error("the KV cache for context " + std::to_string(n_ctx) + " needs " + gib(bytes) + " (2 x " +
                             std::to_string(n_layers) + " layers x " + std::to_string(n_ctx) + " positions x " +
                             std::to_string(kv_dim) + " floats), more than this machine's " +
                             gib(static_cast<double>(memory_bytes)) + " of memory: lower --ctx");
}

}  // namespace actinfer
