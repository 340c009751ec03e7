// Keys and values of every layer and position, in F32 or F16 (--cache-type).
// F16 halves the cache; values are rounded to nearest-even half precision when
// stored and widened to float when attention reads them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/fp16.h"
#include "model/model_config.h"
#include "topology/huge_page_allocator.h"

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

// Rows of consecutive positions of one KV head as they lie in a cache: row i at element
// i * stride of `data` (floats, or F16 halves).
struct KvRows {
  const void* data = nullptr;
  size_t stride = 0;
  KvCacheType type = KvCacheType::F32;
  const float* f32(int i) const { return static_cast<const float*>(data) + static_cast<size_t>(i) * stride; }
  const uint16_t* f16(int i) const { return static_cast<const uint16_t*>(data) + static_cast<size_t>(i) * stride; }
  // Row i's n elements as floats: in place (F32), else widened into buf.
  const float* widened(int i, int n, float* buf) const {
    if (type == KvCacheType::F32) return f32(i);
    fp16_row_to_f32(f16(i), buf, n);
    return buf;
  }
};

class KvCache {
 public:
  // head_dim > 0 (dividing kv_dim): the cache is kept head by head, [layer][head][pos][head_dim],
  // so attention's pass over one KV head streams its rows from contiguous memory (a position's
  // heads side by side left each pass reading a quarter or a third of every row: memory
  // latency bound at a server's depth). 0: one head of kv_dim.
  KvCache(int n_layers, int n_ctx, int kv_dim, KvCacheType type = KvCacheType::F32, int head_dim = 0)
      : n_ctx_((check_kv_cache_fits(n_layers, n_ctx, kv_dim), n_ctx)),
        kv_dim_(kv_dim),
        head_dim_(head_dim > 0 ? head_dim : kv_dim),
        n_heads_(checked_heads(kv_dim, head_dim_)),
        type_(type) {
    const size_t n = static_cast<size_t>(n_layers) * n_ctx * kv_dim;
    if (type == KvCacheType::F16) k16_.resize(n), v16_.resize(n);
    else k32_.resize(n), v32_.resize(n);
  }
  // A model's cache, head by head: what every engine holds.
  static KvCache of_model(const ModelConfig& c, int n_ctx, KvCacheType type) {
    return KvCache(c.n_layers, n_ctx, c.n_kv_heads * c.head_dim, type, c.head_dim);
  }
  int n_ctx() const { return n_ctx_; }
  int kv_dim() const { return kv_dim_; }
  int head_dim() const { return head_dim_; }
  KvCacheType type() const { return type_; }
  // Bytes the keys and values take.
  size_t bytes() const { return (k32_.size() + v32_.size()) * 4 + (k16_.size() + v16_.size()) * 2; }

  // Stores one position's keys and values (kv_dim each).
  void store(int layer, int pos, const float* k, const float* v) {
    for (int h = 0; h < n_heads_; ++h) {
      const size_t o = offset(layer, pos, h * head_dim_);
      const float* kh = k + static_cast<size_t>(h) * head_dim_;
      const float* vh = v + static_cast<size_t>(h) * head_dim_;
      if (type_ == KvCacheType::F32) {
        for (int i = 0; i < head_dim_; ++i) k32_[o + i] = kh[i], v32_[o + i] = vh[i];
      } else {
        for (int i = 0; i < head_dim_; ++i) k16_[o + i] = f32_to_fp16(kh[i]), v16_[o + i] = f32_to_fp16(vh[i]);
      }
    }
  }
  // k[layer][pos][at .. at+n) as floats: in place for an F32 cache, else widened into buf.
  // [at, at + n) lies within one head (the whole row when head_dim is kv_dim).
  const float* k_row(int layer, int pos, int at, int n, float* buf) const { return row(k32_, k16_, layer, pos, at, n, buf); }
  const float* v_row(int layer, int pos, int at, int n, float* buf) const { return row(v32_, v16_, layer, pos, at, n, buf); }
  // The keys (values) of positions pos0.. at element `at` (within one head), read in place.
  KvRows k_run(int layer, int pos0, int at) const { return run_of(k32_, k16_, layer, pos0, at); }
  KvRows v_run(int layer, int pos0, int at) const { return run_of(v32_, v16_, layer, pos0, at); }

 private:
  static int checked_heads(int kv_dim, int head_dim) {
    if (head_dim <= 0 || kv_dim % head_dim != 0)
      throw std::invalid_argument("KV cache: head dimension " + std::to_string(head_dim) + " does not divide " + std::to_string(kv_dim));
    return kv_dim / head_dim;
  }
  // Element `at` of a position's kv_dim: in head at / head_dim, at its place at % head_dim.
  size_t offset(int layer, int pos, int at) const {
    const int h = at / head_dim_;
    return ((static_cast<size_t>(layer) * n_heads_ + h) * n_ctx_ + pos) * head_dim_ + static_cast<size_t>(at - h * head_dim_);
  }
  template <class T>
  using Buffer = std::vector<T, topology::HugePageAllocator<T>>;
  KvRows run_of(const Buffer<float>& f32, const Buffer<uint16_t>& f16, int layer, int pos0, int at) const {
    const size_t o = offset(layer, pos0, at);
    if (type_ == KvCacheType::F32) return {f32.data() + o, static_cast<size_t>(head_dim_), type_};
    return {f16.data() + o, static_cast<size_t>(head_dim_), type_};
  }
  const float* row(const Buffer<float>& f32, const Buffer<uint16_t>& f16, int layer, int pos, int at, int n, float* buf) const {
    return run_of(f32, f16, layer, pos, at).widened(0, n, buf);
  }
  int n_ctx_, kv_dim_, head_dim_, n_heads_;
  KvCacheType type_;
  Buffer<float> k32_, v32_;
  Buffer<uint16_t> k16_, v16_;
};

inline std::optional<KvCacheType> parse_kv_cache_type(std::string_view name) {
  if (name == "f32") return KvCacheType::F32;
  if (name == "f16") return KvCacheType::F16;
  return std::nullopt;
}
inline const char* kv_cache_type_name(KvCacheType type) { return type == KvCacheType::F16 ? "f16" : "f32"; }

}  // namespace actinfer
