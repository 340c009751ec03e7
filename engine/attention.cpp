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
constexpr int kMaxChunks = 16;        // position chunks per (row, KV head)
constexpr int kChunkPositions = 256;  // a row's span is cut into chunks of at least this many

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
  const size_t partial_floats = static_cast<size_t>(hd) + 2;  // m, s, o
  // Work items per row: KV heads x subgroups x position chunks. A row's chunks depend on its
  // own span alone, never on the other rows of the step, so a sequence's results are the
  // same bits alone or beside others (a server's batching must not change a text).
  struct Row {
    const AttentionSequence* seq;
    int t, first, end, chunks;
    int first_item;
    size_t partial_at;  // its heads' chunk partials, when chunked
  };
  std::vector<Row> rows;
  int n_items = 0;
  size_t n_partials = 0;
  for (const AttentionSequence& s : sequences)
    for (int t = 0; t < s.n_tokens; ++t) {
      const int end = s.pos0 + t + 1, first = a.window > 0 ? std::max(0, end - a.window) : 0;
      const int chunks = std::clamp((end - first) / kChunkPositions, 1, kMaxChunks);
      rows.push_back({&s, t, first, end, chunks, n_items, n_partials});
      n_items += a.n_kv_heads * subgroups * chunks;
      if (chunks > 1) n_partials += static_cast<size_t>(a.n_heads) * chunks * partial_floats;
    }
  if (n_items == 0) return;
  if (partials.size() < n_partials) partials.resize(n_partials);

  pool.run_parts(n_items, [&](int item, int) {
    const auto ri = static_cast<size_t>(std::upper_bound(rows.begin(), rows.end(), item, [](int i, const Row& r) { return i < r.first_item; }) -
                                        rows.begin() - 1);
    const Row& row = rows[ri];
    const int local = item - row.first_item;
    const int chunk = local % row.chunks;
    const int sg = (local / row.chunks) % subgroups;
    const int g = local / row.chunks / subgroups;
    const int r = row.seq->row0 + row.t;
    const int span = row.end - row.first;
    const int p0 = row.first + static_cast<int>(static_cast<int64_t>(span) * chunk / row.chunks);
    const int p1 = row.first + static_cast<int>(static_cast<int64_t>(span) * (chunk + 1) / row.chunks);
    const int h0 = g * group + sg * kMaxGroup;
    GroupPass pass;
    pass.n = std::min(kMaxGroup, group - sg * kMaxGroup);
    pass.hd = hd;
    const float* qs[kMaxGroup];
    for (int j = 0; j < pass.n; ++j) qs[j] = q + r * qd + static_cast<int64_t>(h0 + j) * hd;
    pass.run(*row.seq->cache, layer, g * hd, qs, a.scale, p0, p1);
    for (int j = 0; j < pass.n; ++j) {
      if (row.chunks == 1) {
        float* out = att + r * qd + static_cast<int64_t>(h0 + j) * hd;
        const float inv = 1.0f / pass.s[j];
        for (int e = 0; e < hd; ++e) out[e] = pass.o[j][e] * inv;
      } else {
        float* p = &partials[row.partial_at + (static_cast<size_t>(h0 + j) * row.chunks + chunk) * partial_floats];
        p[0] = pass.m[j];
        p[1] = pass.s[j];
        std::copy(pass.o[j], pass.o[j] + hd, p + 2);
      }
    }
  });
  // Combine each chunked (row, head)'s chunks under their common maximum, in chunk order
  // (one item per row, in parallel: a long prompt chunks every row).
  std::vector<const Row*> chunked;
  for (const Row& row : rows)
    if (row.chunks > 1) chunked.push_back(&row);
  pool.run_parts(static_cast<int>(chunked.size()), [&](int item, int) {
    const Row& row = *chunked[static_cast<size_t>(item)];
    const int r = row.seq->row0 + row.t;
    for (int h = 0; h < a.n_heads; ++h) {
      const float* p = &partials[row.partial_at + static_cast<size_t>(h) * row.chunks * partial_floats];
      float m = -std::numeric_limits<float>::infinity();
      for (int c = 0; c < row.chunks; ++c) m = std::max(m, p[c * partial_floats]);
      float* out = att + r * qd + static_cast<int64_t>(h) * hd;
      std::fill(out, out + hd, 0.0f);
      float den = 0.0f;
      for (int c = 0; c < row.chunks; ++c) {
        const float* pc = p + c * partial_floats;
        const float w = std::exp(pc[0] - m);
        den += pc[1] * w;
        axpy(w, pc + 2, out, hd);
      }
      const float inv = 1.0f / den;
      for (int e = 0; e < hd; ++e) out[e] *= inv;
    }
  });
}

}  // namespace actinfer
