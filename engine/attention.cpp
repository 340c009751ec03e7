#include "engine/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/attention_kernels.h"
#include "kernels/elementwise.h"

namespace actinfer {
namespace {

constexpr int kTile = 64;             // positions whose scores are held at once
constexpr int kMaxGroup = 8;          // query heads sharing one pass over K and V
constexpr int kMaxHeadDim = 512;      // (checked: larger heads are refused)
constexpr int kMaxChunks = 16;        // position chunks per (row, KV head)
constexpr int kChunkPositions = 256;  // a row's span is cut into chunks of at least this many
constexpr int kMaxQueryRows = 16;     // consecutive rows of a sequence sharing one pass
constexpr int kQueryTileFloats = 8192;  // at most this many floats of output per pass (query rows x heads x dims)

// A row's positions [first, end) and their chunking, which depend on the row alone.
struct Row {
  const AttentionSequence* seq;
  int t, first, end, chunks;
  size_t partial_at;  // its heads' chunk partials, when chunked
  int chunk_begin(int c) const { return first + static_cast<int>(static_cast<int64_t>(end - first) * c / chunks); }
};

// Consecutive rows of one sequence with the same number of chunks, whose chunk starts lie
// within kMaxQueryRows - 1 positions of each other: one pass per (KV head, subgroup, chunk)
// serves all of them, reading each K and V row once for the tile instead of once per row.
struct QueryTile {
  int row0, n_rows, chunks, first_item;
};

// Per-pass scratch: what one running pass of up to kMaxQueryRows x kMaxGroup (row, head)
// pairs holds.
struct PassScratch {
  static size_t floats(int hd) {
    const size_t pairs = static_cast<size_t>(kMaxQueryRows) * kMaxGroup;
    return pairs * (static_cast<size_t>(hd) + kTile + 2);
  }
  PassScratch(float* at, int hd)
      : o(at),
        scores(o + static_cast<size_t>(kMaxQueryRows) * kMaxGroup * hd),
        m(scores + static_cast<size_t>(kMaxQueryRows) * kMaxGroup * kTile),
        s(m + kMaxQueryRows * kMaxGroup) {}
  float* o;       // [pair][hd]: sum of e^(score - m) v
  float* scores;  // [pair][kTile]
  float* m;       // [pair]: running maximum
  float* s;       // [pair]: sum of e^(score - m)
};

// One pass over chunk `chunk` of every row of a query tile for the query heads
// [h0, h0 + n) of KV head g. Each (row, head) pair runs exactly the arithmetic of a pass over
// that row alone: its own tiles of kTile positions from its chunk's start, the same online
// softmax updates in the same order; only the reading of K and V is shared.
void tile_pass(const KvCache& cache, int layer, const AttentionShape& a, const Row* rows, int n_rows, int g, int h0, int n, int chunk,
               const float* q, PassScratch& ws) {
  const int hd = a.head_dim, kv_at = g * hd;
  const int64_t qd = static_cast<int64_t>(a.n_heads) * hd;
  int p0[kMaxQueryRows], p1[kMaxQueryRows];
  const float* qs[kMaxQueryRows * kMaxGroup];
  for (int t = 0; t < n_rows; ++t) {
    p0[t] = rows[t].chunk_begin(chunk);
    p1[t] = rows[t].chunk_begin(chunk + 1);
    const int r = rows[t].seq->row0 + rows[t].t;
    for (int j = 0; j < n; ++j) qs[t * n + j] = q + r * qd + static_cast<int64_t>(h0 + j) * hd;
  }
  const int pairs = n_rows * n;
  std::fill(ws.m, ws.m + pairs, -std::numeric_limits<float>::infinity());
  std::fill(ws.s, ws.s + pairs, 0.0f);
  std::fill(ws.o, ws.o + static_cast<size_t>(pairs) * hd, 0.0f);
  float rescale[kMaxQueryRows * kMaxGroup];
  float* out[kMaxQueryRows * kMaxGroup];
  float* o[kMaxQueryRows * kMaxGroup];
  float tile_max[kMaxQueryRows * kMaxGroup];
  for (int pr = 0; pr < pairs; ++pr)
    out[pr] = ws.scores + static_cast<size_t>(pr) * kTile, o[pr] = ws.o + static_cast<size_t>(pr) * hd;
  for (int step = 0;; step += kTile) {
    bool any = false;
    // Consecutive rows whose tiles are the same positions (a prompt's rows from the start of
    // the context) go through the kernels together: each K and V row is read (widened) once
    // per three of their queries, in place in the cache.
    for (int t0 = 0, t1; t0 < n_rows; t0 = t1) {
      const int begin = p0[t0] + step, len = std::min(kTile, p1[t0] - begin);
      for (t1 = t0 + 1; t1 < n_rows && p0[t1] + step == begin && std::min(kTile, p1[t1] - begin) == len;) ++t1;
      if (len <= 0) continue;
      any = true;
      const int first = t0 * n, count = (t1 - t0) * n;
      attention_scores(qs + first, count, cache.k_run(layer, begin, kv_at), len, hd, a.scale, out + first, tile_max + first);
      for (int pr = first; pr < first + count; ++pr) {  // the online softmax update
        const float new_m = std::max(ws.m[pr], tile_max[pr]);
        rescale[pr] = 1.0f;
        if (new_m > ws.m[pr] && ws.s[pr] > 0.0f) {  // rescale what was summed under the old maximum
          rescale[pr] = std::exp(ws.m[pr] - new_m);
          ws.s[pr] *= rescale[pr];
        }
        ws.m[pr] = new_m;
        ws.s[pr] += exp_shifted(out[pr], len, new_m);
      }
      attention_values(o + first, count, hd, rescale + first, out + first, cache.v_run(layer, begin, kv_at), len);
    }
    if (!any) break;
  }
}

}  // namespace

void grouped_attention(ThreadPool& pool, int layer, const AttentionShape& a, std::span<const AttentionSequence> sequences,
                       const float* q, float* att, std::vector<float>& partials) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  if (hd > kMaxHeadDim) throw std::invalid_argument("attention: head dimension " + std::to_string(hd) + " above " + std::to_string(kMaxHeadDim));
  const int subgroups = (group + kMaxGroup - 1) / kMaxGroup;
  const int group_heads = std::min(group, kMaxGroup);
  const int max_tile_rows = std::clamp(kQueryTileFloats / (group_heads * hd), 1, kMaxQueryRows);
  const int64_t qd = static_cast<int64_t>(a.n_heads) * hd;
  const size_t partial_floats = static_cast<size_t>(hd) + 2;  // m, s, o
  // Work items per query tile: KV heads x subgroups x position chunks. A row's chunks depend
  // on its own span alone, never on the other rows of the step, and sharing a pass changes
  // none of a row's arithmetic, so a sequence's results are the same bits alone or beside
  // others, in one prompt batch or several (a server's batching must not change a text).
  std::vector<Row> rows;
  std::vector<QueryTile> tiles;
  int n_items = 0;
  size_t n_partials = 0;
  for (const AttentionSequence& s : sequences)
    for (int t = 0; t < s.n_tokens; ++t) {
      const int end = s.pos0 + t + 1, first = a.window > 0 ? std::max(0, end - a.window) : 0;
      const int chunks = std::clamp((end - first) / kChunkPositions, 1, kMaxChunks);
      const Row row{&s, t, first, end, chunks, n_partials};
      if (chunks > 1) n_partials += static_cast<size_t>(a.n_heads) * chunks * partial_floats;
      bool joins = false;
      if (!tiles.empty() && t > 0) {
        const QueryTile& tile = tiles.back();
        const Row& lead = rows[static_cast<size_t>(tile.row0)];
        joins = tile.n_rows < max_tile_rows && tile.chunks == chunks;
        for (int c = 0; joins && c < chunks; ++c) {
          const int spread = row.chunk_begin(c) - lead.chunk_begin(c);
          joins = spread >= 0 && spread < kMaxQueryRows;
        }
      }
      if (joins) {
        ++tiles.back().n_rows;
      } else {
        if (!tiles.empty()) n_items += a.n_kv_heads * subgroups * tiles.back().chunks;
        tiles.push_back({static_cast<int>(rows.size()), 1, chunks, n_items});
      }
      rows.push_back(row);
    }
  if (tiles.empty()) return;
  n_items += a.n_kv_heads * subgroups * tiles.back().chunks;
  const size_t scratch_at = n_partials, scratch_floats = PassScratch::floats(hd);
  const size_t needed = scratch_at + scratch_floats * static_cast<size_t>(pool.size());
  if (partials.size() < needed) partials.resize(needed);

  // One part per thread, each with its own scratch, claiming items until none is left (a
  // preempted thread holds up only the item it has claimed).
  std::atomic<int> next_item{0};
  pool.run([&](int part, int) {
    PassScratch ws(partials.data() + scratch_at + scratch_floats * static_cast<size_t>(part), hd);
    for (int item; (item = next_item.fetch_add(1, std::memory_order_relaxed)) < n_items;) {
      const auto ti = static_cast<size_t>(
          std::upper_bound(tiles.begin(), tiles.end(), item, [](int i, const QueryTile& tl) { return i < tl.first_item; }) - tiles.begin() - 1);
      const QueryTile& tile = tiles[ti];
      const int local = item - tile.first_item;
      const int chunk = local % tile.chunks;
      const int sg = (local / tile.chunks) % subgroups;
      const int g = local / tile.chunks / subgroups;
      const int h0 = g * group + sg * kMaxGroup;
      const int n = std::min(kMaxGroup, group - sg * kMaxGroup);
      const Row* tile_rows = &rows[static_cast<size_t>(tile.row0)];
      tile_pass(*tile_rows[0].seq->cache, layer, a, tile_rows, tile.n_rows, g, h0, n, chunk, q, ws);
      for (int t = 0; t < tile.n_rows; ++t) {
        const Row& row = tile_rows[t];
        const int r = row.seq->row0 + row.t;
        for (int j = 0; j < n; ++j) {
          const int pr = t * n + j;
          const float* o = ws.o + static_cast<size_t>(pr) * hd;
          if (row.chunks == 1) {
            float* out = att + r * qd + static_cast<int64_t>(h0 + j) * hd;
            const float inv = 1.0f / ws.s[pr];
            for (int e = 0; e < hd; ++e) out[e] = o[e] * inv;
          } else {
            float* p = &partials[row.partial_at + (static_cast<size_t>(h0 + j) * row.chunks + chunk) * partial_floats];
            p[0] = ws.m[pr];
            p[1] = ws.s[pr];
            std::copy(o, o + hd, p + 2);
          }
        }
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
