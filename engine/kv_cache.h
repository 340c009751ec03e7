// Keys and values of every layer and position, in F32 or F16 (--cache-type).
// F16 halves the cache; values are rounded to nearest-even half precision when
// stored and widened to float when attention reads them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "kernels/fp16.h"

namespace actinfer {

// Total physical memory (0 when unknown).
uint64_t physical_memory_bytes();
// Throws std::runtime_error with the numbers when a float KV cache of this size would not fit
// in memory_bytes (0: no limit known), before anything is allocated.
void check_kv_cache_fits(int n_layers, int n_ctx, int kv_dim, uint64_t memory_bytes = physical_memory_bytes());

enum class KvCacheType { F32, F16 };

// "f32" / "f16"; nullopt for anything else.
std::optional<KvCacheType> parse_kv_cache_type(std::string_view name);
const char* kv_cache_type_name(KvCacheType type);
inline size_t kv_cache_element_bytes(KvCacheType type) { return type == KvCacheType::F16 ? 2 : 4; }

class KvCache {
 public:
  KvCache(int n_layers, int n_ctx, int kv_dim, KvCacheType type = KvCacheType::F32)
      : n_ctx_((check_kv_cache_fits(n_layers, n_ctx, kv_dim), n_ctx)), kv_dim_(kv_dim), type_(type) {
    const size_t n = static_cast<size_t>(n_layers) * n_ctx * kv_dim;
    if (type == KvCacheType::F16) k16_.resize(n), v16_.resize(n);
    else k32_.resize(n), v32_.resize(n);
  }
  int n_ctx() const { return n_ctx_; }
  int kv_dim() const { return kv_dim_; }
  KvCacheType type() const { return type_; }
  // Bytes the keys and values take.
  size_t bytes() const { return (k32_.size() + v32_.size()) * 4 + (k16_.size() + v16_.size()) * 2; }

  // Stores one position's keys and values (kv_dim each).
  void store(int layer, int pos, const float* k, const float* v) {
    const size_t o = offset(layer, pos);
    if (type_ == KvCacheType::F32) {
      for (int i = 0; i < kv_dim_; ++i) k32_[o + i] = k[i], v32_[o + i] = v[i];
    } else {
      for (int i = 0; i < kv_dim_; ++i) k16_[o + i] = f32_to_fp16(k[i]), v16_[o + i] = f32_to_fp16(v[i]);
    }
  }
  // k[layer][pos][at .. at+n) as floats: in place for an F32 cache, else widened into buf.
  const float* k_row(int layer, int pos, int at, int n, float* buf) const { return row(k32_, k16_, layer, pos, at, n, buf); }
  const float* v_row(int layer, int pos, int at, int n, float* buf) const { return row(v32_, v16_, layer, pos, at, n, buf); }

 private:
  size_t offset(int layer, int pos) const { return (static_cast<size_t>(layer) * n_ctx_ + pos) * kv_dim_; }
  const float* row(const std::vector<float>& f32, const std::vector<uint16_t>& f16, int layer, int pos, int at, int n, float* buf) const {
    const size_t o = offset(layer, pos) + static_cast<size_t>(at);
    if (type_ == KvCacheType::F32) return &f32[o];
    fp16_row_to_f32(&f16[o], buf, n);
    return buf;
  }
  int n_ctx_, kv_dim_;
  KvCacheType type_;
  std::vector<float> k32_, v32_;
  std::vector<uint16_t> k16_, v16_;
};

inline std::optional<KvCacheType> parse_kv_cache_type(std::string_view name) {
  if (name == "f32") return KvCacheType::F32;
  if (name == "f16") return KvCacheType::F16;
  return std::nullopt;
}
inline const char* kv_cache_type_name(KvCacheType type) { return type == KvCacheType::F16 ? "f16" : "f32"; }

}  // namespace actinfer
