// Keys and values of every layer and position, in float.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace actinfer {

// Total physical memory (0 when unknown).
uint64_t physical_memory_bytes();
// Throws std::runtime_error with the numbers when a float KV cache of this size would not fit
// in memory_bytes (0: no limit known), before anything is allocated.
void check_kv_cache_fits(int n_layers, int n_ctx, int kv_dim, uint64_t memory_bytes = physical_memory_bytes());

class KvCache {
 public:
  KvCache(int n_layers, int n_ctx, int kv_dim)
      : n_ctx_((check_kv_cache_fits(n_layers, n_ctx, kv_dim), n_ctx)), kv_dim_(kv_dim),
        k_(static_cast<size_t>(n_layers) * n_ctx * kv_dim), v_(k_.size()) {}
  int n_ctx() const { return n_ctx_; }
  int kv_dim() const { return kv_dim_; }
  float* k(int layer, int pos) { return &k_[offset(layer, pos)]; }
  float* v(int layer, int pos) { return &v_[offset(layer, pos)]; }
  const float* k(int layer, int pos) const { return &k_[offset(layer, pos)]; }
  const float* v(int layer, int pos) const { return &v_[offset(layer, pos)]; }

 private:
  size_t offset(int layer, int pos) const { return (static_cast<size_t>(layer) * n_ctx_ + pos) * kv_dim_; }
  int n_ctx_, kv_dim_;
  std::vector<float> k_, v_;
};

}  // namespace actinfer
