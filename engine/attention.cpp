#include "engine/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/elementwise.h"

namespace actinfer {
namespace {

constexpr int kTile = 64;          // positions whose scores are held at once
constexpr int kMaxGroup = 8;       // query heads sharing one pass over K and V
constexpr int kMaxHeadDim = 512;   // (checked: larger heads are refused)
constexpr int kMaxChunks = 16;     // position chunks per (token, KV head)
constexpr int kMinChunkPositions = 128;

// One pass over positions [p0, p1) of a KV head for up to kMaxGroup query heads:
// the running maximum m, the sum s of e^(score - m) and o = sum e^(score - m) v per head.
struct GroupPass {
  int n = 0, hd = 0;
  float m[kMaxGroup];
  float s[kMaxGroup];
  alignas(32) float o[kMaxGroup][kMaxHeadDim];

  void run(const KvCache& cache, int layer, int kv_at, const float* const* q, float scale, int p0, int p1) {
    alignas(32) float row[kMaxHeadDim];
    alignas(32) float sc[kMaxGroup][kTile];
    for (int j = 0; j < n; ++j) {
      m[j] = -std::numeric_limits<float>::infinity();
      s[j] = 0.0f;
      std::fill(o[j], o[j] + hd, 0.0f);
    }
    for (int p = p0; p < p1; p += kTile) {
      const int len = std::min(kTile, p1 - p);
      for (int i = 0; i < len; ++i) {
        const float* k = cache.k_row(layer, p + i, kv_at, hd, row);
        for (int j = 0; j < n; ++j) sc[j][i] = dot_f32(q[j], k, hd) * scale;
      }
      for (int j = 0; j < n; ++j) {
        const float tile_max = *std::max_element(sc[j], sc[j] + len);
        const float new_m = std::max(m[j], tile_max);
        if (new_m > m[j] && s[j] > 0.0f) {  // rescale what was summed under the old maximum
          const float c = std::exp(m[j] - new_m);
          s[j] *= c;
          for (int e = 0; e < hd; ++e) o[j][e] *= c;
        }
        m[j] = new_m;
        s[j] += exp_shifted(sc[j], len, new_m);
      }
      for (int i = 0; i < len; ++i) {
        const float* v = cache.v_row(layer, p + i, kv_at, hd, row);
        for (int j = 0; j < n; ++j) axpy(sc[j][i], v, o[j], hd);
      }
    }
  }
};

}  // namespace

void grouped_attention(ThreadPool& pool, int layer, const AttentionShape& a, std::span<const AttentionSequence> sequences,
                       const float* q, float* att, std::vector<float>& partials) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  if (hd > kMaxHeadDim) throw std::invalid_argument("attention: head dimension " + std::to_string(hd) + " above " + std::to_string(kMaxHeadDim));
  const int subgroups = (group + kMaxGroup - 1) / kMaxGroup;
  const int64_t qd = static_cast<int64_t>(a.n_heads) * hd;
  auto range = [&](const AttentionSequence& s, int t) {  // the positions row t of s sees
    const int end = s.pos0 + t + 1;
    return std::pair{a.window > 0 ? std::max(0, end - a.window) : 0, end};
  };
  // Enough items for every thread several times over; chunks only where the context is long.
  const int per_row = a.n_kv_heads * subgroups;
  int base_items = 0, longest = 0, rows = 0;
  for (const AttentionSequence& s : sequences) {
    if (s.n_tokens <= 0) continue;
    base_items += s.n_tokens * per_row;
    const auto [first, end] = range(s, s.n_tokens - 1);
    longest = std::max(longest, end - first);
    rows = std::max(rows, s.row0 + s.n_tokens);
  }
  if (base_items == 0) return;
  int n_chunks = 1;
  if (pool.size() > 1 && base_items < 4 * pool.size())
    n_chunks = std::clamp(std::min((8 * pool.size() + base_items - 1) / base_items, longest / kMinChunkPositions), 1, kMaxChunks);
  const size_t partial_floats = static_cast<size_t>(hd) + 2;  // m, s, o
  if (n_chunks > 1) partials.resize(std::max(partials.size(), static_cast<size_t>(rows) * a.n_heads * n_chunks * partial_floats));
  // Each sequence's first item, so an item number finds its sequence.
  std::vector<int> first_item;
  first_item.reserve(sequences.size() + 1);
  first_item.push_back(0);
  for (const AttentionSequence& s : sequences) first_item.push_back(first_item.back() + std::max(0, s.n_tokens) * per_row * n_chunks);

  pool.run_parts(first_item.back(), [&](int item, int) {
    const auto si = static_cast<size_t>(std::upper_bound(first_item.begin(), first_item.end(), item) - first_item.begin() - 1);
    const AttentionSequence& seq = sequences[si];
    const int local = item - first_item[si];
    const int chunk = local % n_chunks;
    const int sg = (local / n_chunks) % subgroups;
    const int g = (local / n_chunks / subgroups) % a.n_kv_heads;
    const int t = local / n_chunks / subgroups / a.n_kv_heads;
    const int r = seq.row0 + t;
    const auto [first, end] = range(seq, t);
    const int span = end - first;
    const int p0 = first + static_cast<int>(static_cast<int64_t>(span) * chunk / n_chunks);
    const int p1 = first + static_cast<int>(static_cast<int64_t>(span) * (chunk + 1) / n_chunks);
    const int h0 = g * group + sg * kMaxGroup;
    GroupPass pass;
    pass.n = std::min(kMaxGroup, group - sg * kMaxGroup);
    pass.hd = hd;
    const float* qs[kMaxGroup];
    for (int j = 0; j < pass.n; ++j) qs[j] = q + r * qd + static_cast<int64_t>(h0 + j) * hd;
    pass.run(*seq.cache, layer, g * hd, qs, a.scale, p0, p1);
    for (int j = 0; j < pass.n; ++j) {
      if (n_chunks == 1) {
        float* out = att + r * qd + static_cast<int64_t>(h0 + j) * hd;
        const float inv = 1.0f / pass.s[j];
        for (int e = 0; e < hd; ++e) out[e] = pass.o[j][e] * inv;
      } else {
        float* p = &partials[((static_cast<size_t>(r) * a.n_heads + h0 + j) * n_chunks + chunk) * partial_floats];
        p[0] = pass.m[j];
        p[1] = pass.s[j];
        std::copy(pass.o[j], pass.o[j] + hd, p + 2);
      }
    }
  });
  if (n_chunks == 1) return;
  // Combine each (row, head)'s chunks under their common maximum (an empty chunk has s = 0).
  for (const AttentionSequence& seq : sequences)
    for (int r = seq.row0; r < seq.row0 + seq.n_tokens; ++r)
      for (int h = 0; h < a.n_heads; ++h) {
        const float* p = &partials[(static_cast<size_t>(r) * a.n_heads + h) * n_chunks * partial_floats];
        float m = -std::numeric_limits<float>::infinity();
        for (int c = 0; c < n_chunks; ++c)
          if (p[c * partial_floats + 1] > 0.0f) m = std::max(m, p[c * partial_floats]);
        float* out = att + r * qd + static_cast<int64_t>(h) * hd;
        std::fill(out, out + hd, 0.0f);
        float den = 0.0f;
        for (int c = 0; c < n_chunks; ++c) {
          const float* pc = p + c * partial_floats;
          if (pc[1] <= 0.0f) continue;
          const float w = std::exp(pc[0] - m);
          den += pc[1] * w;
          axpy(w, pc + 2, out, hd);
        }
        const float inv = 1.0f / den;
        for (int e = 0; e < hd; ++e) out[e] *= inv;
      }
}

}  // namespace actinfer
