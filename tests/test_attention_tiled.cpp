// Query-tiled attention (engine/attention.*) against the one-row-at-a-time attention it
// replaced, kept here verbatim in its arithmetic: every result must be the same bits, for
// every GQA shape, head size, depth, cache type, thread count and way of splitting a prompt
// into batches. The inner kernels (engine/attention_kernels.*) are checked bit for bit
// against the plain dot_f32 / axpy they batch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "engine/attention.h"
#include "engine/attention_kernels.h"
#include "kernels/elementwise.h"
#include "kernels/fp16.h"

using namespace actinfer;

namespace {

// ---- The per-row attention before query tiles (the reference) ----
constexpr int kTile = 64, kMaxGroup = 8, kMaxHeadDim = 512, kMaxChunks = 16, kChunkPositions = 256;

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
        if (new_m > m[j] && s[j] > 0.0f) {
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

// Rows r0 .. r0 + n_tokens of one sequence at positions pos0.., one row at a time.
void rowwise_attention(const KvCache& cache, int layer, const AttentionShape& a, int pos0, int n_tokens, const float* q, float* att) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int subgroups = (group + kMaxGroup - 1) / kMaxGroup;
  const int64_t qd = static_cast<int64_t>(a.n_heads) * hd;
  const size_t pf = static_cast<size_t>(hd) + 2;
  for (int t = 0; t < n_tokens; ++t) {
    const int end = pos0 + t + 1, first = a.window > 0 ? std::max(0, end - a.window) : 0;
    const int chunks = std::clamp((end - first) / kChunkPositions, 1, kMaxChunks);
    std::vector<float> partials(static_cast<size_t>(a.n_heads) * chunks * pf);
    for (int g = 0; g < a.n_kv_heads; ++g)
      for (int sg = 0; sg < subgroups; ++sg)
        for (int chunk = 0; chunk < chunks; ++chunk) {
          const int span = end - first;
          const int p0 = first + static_cast<int>(static_cast<int64_t>(span) * chunk / chunks);
          const int p1 = first + static_cast<int>(static_cast<int64_t>(span) * (chunk + 1) / chunks);
          const int h0 = g * group + sg * kMaxGroup;
          auto pass = std::make_unique<GroupPass>();
          pass->n = std::min(kMaxGroup, group - sg * kMaxGroup);
          pass->hd = hd;
          const float* qs[kMaxGroup];
          for (int j = 0; j < pass->n; ++j) qs[j] = q + t * qd + static_cast<int64_t>(h0 + j) * hd;
          pass->run(cache, layer, g * hd, qs, a.scale, p0, p1);
          for (int j = 0; j < pass->n; ++j) {
            if (chunks == 1) {
              float* out = att + t * qd + static_cast<int64_t>(h0 + j) * hd;
              const float inv = 1.0f / pass->s[j];
              for (int e = 0; e < hd; ++e) out[e] = pass->o[j][e] * inv;
            } else {
              float* p = &partials[(static_cast<size_t>(h0 + j) * chunks + chunk) * pf];
              p[0] = pass->m[j];
              p[1] = pass->s[j];
              std::copy(pass->o[j], pass->o[j] + hd, p + 2);
            }
          }
        }
    if (chunks == 1) continue;
    for (int h = 0; h < a.n_heads; ++h) {
      const float* p = &partials[static_cast<size_t>(h) * chunks * pf];
      float m = -std::numeric_limits<float>::infinity();
      for (int c = 0; c < chunks; ++c) m = std::max(m, p[c * pf]);
      float* out = att + t * qd + static_cast<int64_t>(h) * hd;
      std::fill(out, out + hd, 0.0f);
      float den = 0.0f;
      for (int c = 0; c < chunks; ++c) {
        const float* pc = p + c * pf;
        const float w = std::exp(pc[0] - m);
        den += pc[1] * w;
        axpy(w, pc + 2, out, hd);
      }
      const float inv = 1.0f / den;
      for (int e = 0; e < hd; ++e) out[e] *= inv;
    }
  }
}

// ---- Fixtures ----
struct Setup {
  AttentionShape shape;
  KvCache cache;
  std::vector<float> q;  // [rows][n_heads * head_dim], row t at position pos0 + t
  int pos0, rows;
};

Setup make_setup(int n_heads, int n_kv, int hd, int pos0, int rows, int window, KvCacheType type, uint32_t seed) {
  const int n_ctx = pos0 + rows, kv = n_kv * hd;
  Setup s{{n_heads, n_kv, hd, 1.0f / std::sqrt(static_cast<float>(hd)), window}, KvCache(1, n_ctx, kv, type), {}, pos0, rows};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(kv)), v(k.size());
  for (int p = 0; p < n_ctx; ++p) {
    for (size_t i = 0; i < k.size(); ++i) k[i] = nd(rng), v[i] = nd(rng);
    s.cache.store(0, p, k.data(), v.data());
  }
  s.q.resize(static_cast<size_t>(rows) * n_heads * hd);
  for (float& x : s.q) x = 2.0f * nd(rng);  // sharp softmaxes: the running maximum moves
  return s;
}

// The rows computed in calls of at most `batch` rows each (the prompt batch size -b).
std::vector<float> tiled(const Setup& s, int batch, int threads) {
  ThreadPool pool(threads);
  const size_t qd = static_cast<size_t>(s.shape.n_heads) * s.shape.head_dim;
  std::vector<float> att(s.q.size(), -1.0f), scratch;
  for (int r0 = 0; r0 < s.rows; r0 += batch) {
    const int n = std::min(batch, s.rows - r0);
    const AttentionSequence seq{const_cast<KvCache*>(&s.cache), s.pos0 + r0, 0, n};
    grouped_attention(pool, 0, s.shape, std::span(&seq, 1), s.q.data() + r0 * qd, att.data() + r0 * qd, scratch);
  }
  return att;
}

std::vector<float> rowwise(const Setup& s) {
  std::vector<float> att(s.q.size(), -1.0f);
  rowwise_attention(s.cache, 0, s.shape, s.pos0, s.rows, s.q.data(), att.data());
  return att;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("attention kernels: the same bits as dot_f32 and axpy") {
  // Rows read in place from F32 and F16 storage (rows `stride` elements apart, as a cache
  // lays out one head's positions), 1..7 queries at once (groups of three, two, one), and
  // 16 or 23 at once as a prompt's passes have (values in groups of six, then one by one).
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  constexpr int kQueries = 23;
  for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
    for (int n : {8, 16, 24, 64, 80, 128, 136, 256, 512, 20, 3}) {
      for (int pad : {0, 40}) {
        CAPTURE(static_cast<int>(type));
        CAPTURE(n);
        CAPTURE(pad);
        const int positions = 61;  // fifteen blocks of four and a remainder
        const size_t stride = static_cast<size_t>(n + pad);
        std::vector<float> f32(stride * positions);
        std::vector<uint16_t> f16(f32.size());
        for (size_t i = 0; i < f32.size(); ++i) {
          f16[i] = f32_to_fp16(nd(rng));
          f32[i] = type == KvCacheType::F16 ? fp16_to_f32(f16[i]) : nd(rng);
        }
        // The reference reads the rows widened to float (exact), as the kernels must.
        const KvRows rows{type == KvCacheType::F16 ? static_cast<const void*>(f16.data()) : f32.data(), stride, type};
        auto row = [&](int i) { return f32.data() + static_cast<size_t>(i) * stride; };
        std::vector<std::vector<float>> q(kQueries, std::vector<float>(static_cast<size_t>(n)));
        for (auto& v : q)
          for (float& x : v) x = nd(rng);
        for (int nq : {1, 2, 3, 4, 5, 6, 7, 16, kQueries}) {
          for (int len : {positions, 8, 5, 4, 3, 1}) {
            CAPTURE(nq);
            CAPTURE(len);
            std::vector<std::vector<float>> got(static_cast<size_t>(nq), std::vector<float>(static_cast<size_t>(len), 0.0f));
            const float* qs[kQueries];
            float* outs[kQueries];
            float maxes[kQueries];
            for (int j = 0; j < nq; ++j) qs[j] = q[static_cast<size_t>(j)].data(), outs[j] = got[static_cast<size_t>(j)].data();
            attention_scores(qs, nq, rows, len, n, 0.125f, outs, maxes);
            for (int j = 0; j < nq; ++j) {
              std::vector<float> want(static_cast<size_t>(len));
              for (int i = 0; i < len; ++i) want[static_cast<size_t>(i)] = dot_f32(qs[j], row(i), n) * 0.125f;
              CHECK(same_bits(got[static_cast<size_t>(j)], want));
              CHECK(maxes[j] == *std::max_element(want.begin(), want.end()));
            }
            // Outputs with their own weights and rescales (1 leaves the output unscaled).
            const float scales[] = {1.0f, 0.37f, 0.0f};
            std::vector<std::vector<float>> o(static_cast<size_t>(nq)), o_want(static_cast<size_t>(nq)), w(static_cast<size_t>(nq));
            float* op[kQueries];
            const float* wp[kQueries];
            float rescale[kQueries];
            for (int j = 0; j < nq; ++j) {
              auto& oj = o[static_cast<size_t>(j)];
              auto& wj = w[static_cast<size_t>(j)];
              oj.resize(static_cast<size_t>(n));
              wj.resize(static_cast<size_t>(len));
              for (float& x : oj) x = nd(rng);
              for (float& x : wj) x = std::abs(nd(rng));
              rescale[j] = scales[j % 3];
              o_want[static_cast<size_t>(j)] = oj;
              for (float& x : o_want[static_cast<size_t>(j)]) x *= rescale[j];
              for (int i = 0; i < len; ++i) axpy(wj[static_cast<size_t>(i)], row(i), o_want[static_cast<size_t>(j)].data(), n);
              op[j] = oj.data(), wp[j] = wj.data();
            }
            attention_values(op, nq, n, rescale, wp, rows, len);
            for (int j = 0; j < nq; ++j) CHECK(same_bits(o[static_cast<size_t>(j)], o_want[static_cast<size_t>(j)]));
          }
        }
      }
    }
  }
}

TEST_CASE("query-tiled attention = the per-row attention, bit for bit") {
  struct Case {
    int n_heads, n_kv, hd, pos0, rows, window;
  };
  const Case cases[] = {
      {4, 4, 16, 0, 70, 0},      // no grouping; rows cross the first tile of 64
      {9, 3, 64, 0, 130, 0},     // SmolLM2's grouping, a prompt from the start
      {9, 3, 64, 440, 90, 0},    // rows crossing 512 positions: one chunk, then two
      {9, 3, 64, 1000, 40, 0},   // chunked rows whose chunk starts move with the row
      {32, 4, 64, 4070, 30, 0},  // TinyLlama's, at depth 4096 (16 chunks)
      {16, 1, 32, 300, 24, 0},   // a group of 16: two subgroups of 8 heads
      {12, 2, 24, 60, 20, 0},    // head size a multiple of 8, not of 64
      {6, 2, 20, 60, 20, 0},     // head size not a multiple of 8 (the plain kernels)
      {4, 1, 256, 680, 40, 512}, // gemma3 270M's local layer: the window slides under the rows
      {4, 2, 32, 5, 40, 16},     // a batch wider than the window
      {8, 8, 512, 500, 20, 0},   // the largest head: fewer rows per query tile
      {10, 2, 80, 200, 33, 0},   // a 64 + 16 head
  };
  for (const Case& c : cases)
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
      CAPTURE(c.n_heads);
      CAPTURE(c.n_kv);
      CAPTURE(c.hd);
      CAPTURE(c.pos0);
      CAPTURE(c.window);
      CAPTURE(static_cast<int>(type));
      const Setup s = make_setup(c.n_heads, c.n_kv, c.hd, c.pos0, c.rows, c.window, type, static_cast<uint32_t>(c.hd * 7 + c.pos0));
      const std::vector<float> want = rowwise(s);
      for (int batch : {c.rows, 7, 1}) {
        CAPTURE(batch);
        CHECK(same_bits(tiled(s, batch, batch == 7 ? 3 : 2), want));
      }
    }
}

TEST_CASE("query-tiled attention: a sequence's rows are the same bits beside other sequences") {
  // One prompt chunk deep in its context beside decode rows of other sequences and a second
  // prompt: every row equals the per-row attention over its own cache.
  const int n_heads = 9, n_kv = 3, hd = 64;
  struct Seq {
    int pos0, n;
  };
  const Seq seqs[] = {{600, 21}, {900, 1}, {0, 9}, {300, 1}};
  std::vector<Setup> setups;
  for (const Seq& q : seqs)
    setups.push_back(make_setup(n_heads, n_kv, hd, q.pos0, q.n, 0, KvCacheType::F16, static_cast<uint32_t>(q.pos0 + 1)));
  std::vector<AttentionSequence> list;
  std::vector<float> q;
  int rows = 0;
  for (Setup& s : setups) {
    list.push_back({&s.cache, s.pos0, rows, s.rows});
    q.insert(q.end(), s.q.begin(), s.q.end());
    rows += s.rows;
  }
  ThreadPool pool(2);
  std::vector<float> att(q.size(), -1.0f), scratch;
  grouped_attention(pool, 0, setups[0].shape, list, q.data(), att.data(), scratch);
  for (size_t i = 0; i < setups.size(); ++i) {
    const Setup& s = setups[i];
    const size_t at = static_cast<size_t>(list[i].row0) * n_heads * hd;
    const std::vector<float> got(att.begin() + static_cast<std::ptrdiff_t>(at), att.begin() + static_cast<std::ptrdiff_t>(at + s.q.size()));
    CHECK(same_bits(got, rowwise(s)));
  }
}

TEST_CASE("grouped attention: its scratch grows with the rows of a step, not with the context") {
  // The same step of 16 rows at depth 4352 and at depth 8192 (both 16 chunks per row):
  // a longer prompt, processed in steps of -b rows, needs no more scratch per step.
  std::vector<size_t> sizes;
  for (int depth : {4352, 8192}) {
    const Setup s = make_setup(9, 3, 64, depth - 16, 16, 0, KvCacheType::F16, 5);
    ThreadPool pool(2);
    std::vector<float> att(s.q.size()), scratch;
    const AttentionSequence seq{const_cast<KvCache*>(&s.cache), s.pos0, 0, s.rows};
    grouped_attention(pool, 0, s.shape, std::span(&seq, 1), s.q.data(), att.data(), scratch);
    sizes.push_back(scratch.size());
  }
  CHECK(sizes[0] == sizes[1]);
  CHECK(sizes[0] * sizeof(float) < 2u << 20);  // 16 rows x 9 heads x 16 chunks, and per-thread tiles
}
