// Grouped attention (engine/attention.*) against a plain double-precision softmax
// attention written here: groups of 1 to 16 query heads, sliding windows, F32 and F16
// caches, one token deep into the context (chunked) and prompt batches.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/attention.h"
#include "kernels/fp16.h"

using namespace actinfer;

namespace {

struct Case {
  int n_heads, n_kv_heads, head_dim, pos0, B, window;
};

// softmax(q . k * scale) v per (token, head), in double, from the cache's own stored values.
std::vector<double> reference(const KvCache& cache, int layer, const AttentionShape& a, int pos0, int B, const std::vector<float>& q) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  std::vector<double> out(static_cast<size_t>(B) * a.n_heads * hd, 0.0);
  std::vector<float> row(static_cast<size_t>(hd));
  for (int t = 0; t < B; ++t)
    for (int h = 0; h < a.n_heads; ++h) {
      const int end = pos0 + t + 1, first = a.window > 0 ? std::max(0, end - a.window) : 0;
      const int at = h / group * hd;
      std::vector<double> s;
      for (int p = first; p < end; ++p) {
        const float* k = cache.k_row(layer, p, at, hd, row.data());
        double d = 0;
        for (int e = 0; e < hd; ++e) d += static_cast<double>(q[(static_cast<size_t>(t) * a.n_heads + h) * hd + e]) * k[e];
        s.push_back(d * a.scale);
      }
      const double m = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - m));
      double* o = &out[(static_cast<size_t>(t) * a.n_heads + h) * hd];
      for (int p = first; p < end; ++p) {
        const float* v = cache.v_row(layer, p, at, hd, row.data());
        for (int e = 0; e < hd; ++e) o[e] += s[static_cast<size_t>(p - first)] / sum * v[e];
      }
    }
  return out;
}

void check_case(const Case& c, KvCacheType type, int threads) {
  CAPTURE(c.n_heads);
  CAPTURE(c.n_kv_heads);
  CAPTURE(c.pos0);
  CAPTURE(c.B);
  CAPTURE(c.window);
  CAPTURE(threads);
  const int n_ctx = c.pos0 + c.B, kv = c.n_kv_heads * c.head_dim, layers = 2, layer = 1;
  // The same keys and values in both layouts: positions' rows side by side, and head by head.
  KvCache cache(layers, n_ctx, kv, type), by_head(layers, n_ctx, kv, type, c.head_dim);
  std::mt19937 rng(static_cast<uint32_t>(c.n_heads * 131 + c.pos0 + c.B));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(kv)), v(static_cast<size_t>(kv));
  for (int p = 0; p < n_ctx; ++p) {
    for (int i = 0; i < kv; ++i) k[static_cast<size_t>(i)] = nd(rng), v[static_cast<size_t>(i)] = nd(rng);
    cache.store(layer, p, k.data(), v.data());
    by_head.store(layer, p, k.data(), v.data());
  }
  std::vector<float> q(static_cast<size_t>(c.B) * c.n_heads * c.head_dim);
  for (float& x : q) x = 2.0f * nd(rng);  // sharp softmaxes too
  const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim, 1.0f / std::sqrt(static_cast<float>(c.head_dim)), c.window};
  ThreadPool pool(threads);
  std::vector<float> att(q.size(), -1.0f), att_by_head(q.size(), -2.0f), scratch;
  const AttentionSequence one{&cache, c.pos0, 0, c.B}, one_by_head{&by_head, c.pos0, 0, c.B};
  grouped_attention(pool, layer, shape, std::span(&one, 1), q.data(), att.data(), scratch);
  grouped_attention(pool, layer, shape, std::span(&one_by_head, 1), q.data(), att_by_head.data(), scratch);
  const std::vector<double> want = reference(cache, layer, shape, c.pos0, c.B, q);
  double worst = 0;
  for (size_t i = 0; i < att.size(); ++i) worst = std::max(worst, std::abs(att[i] - want[i]));
  CHECK(worst < 2e-5);
  CHECK(att_by_head == att);  // the layout changes where rows are read, never a bit of the result
}

}  // namespace

TEST_CASE("grouped attention = plain softmax attention: groups, windows, depth, cache types") {
  const Case cases[] = {
      {4, 4, 16, 0, 1, 0},      // no grouping, first token
      {9, 3, 64, 1000, 1, 0},   // SmolLM2's grouping, one token deep in the context (chunked)
      {32, 4, 64, 4095, 1, 0},  // TinyLlama's, at depth 4096
      {16, 1, 32, 300, 1, 0},   // a group of 16: two passes of 8 heads over K and V
      {4, 1, 256, 700, 1, 512}, // gemma3 270M's local layer: a window shorter than the context
      {9, 3, 64, 37, 17, 0},    // a prompt batch after a few tokens
      {4, 2, 32, 5, 40, 16},    // a batch wider than the window
  };
  for (const Case& c : cases)
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16})
      for (int threads : {1, 2, 3}) check_case(c, type, threads);
}

TEST_CASE("grouped attention: sequences of one step, each with its own cache and depth") {
  // Three sequences (a prompt chunk and two decode tokens deep in their contexts) in one
  // call; each row must equal the reference over its own cache alone.
  const int n_heads = 9, n_kv = 3, hd = 64, layer = 0;
  const AttentionShape shape{n_heads, n_kv, hd, 0.125f, 0};
  struct Seq { int pos0, n; };
  const Seq seqs[] = {{0, 5}, {900, 1}, {300, 1}};
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<KvCache> caches;
  caches.reserve(3);
  std::vector<AttentionSequence> list;
  int rows = 0;
  for (const Seq& s : seqs) {
    caches.emplace_back(1, s.pos0 + s.n, n_kv * hd, KvCacheType::F32);
    std::vector<float> k(static_cast<size_t>(n_kv * hd)), v(k.size());
    for (int p = 0; p < s.pos0 + s.n; ++p) {
      for (size_t i = 0; i < k.size(); ++i) k[i] = nd(rng), v[i] = nd(rng);
      caches.back().store(layer, p, k.data(), v.data());
    }
    list.push_back({&caches.back(), s.pos0, rows, s.n});
    rows += s.n;
  }
  std::vector<float> q(static_cast<size_t>(rows) * n_heads * hd);
  for (float& x : q) x = 2.0f * nd(rng);
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    std::vector<float> att(q.size(), -1.0f), scratch;
    grouped_attention(pool, layer, shape, list, q.data(), att.data(), scratch);
    for (const AttentionSequence& s : list) {
      const size_t at = static_cast<size_t>(s.row0) * n_heads * hd, n = static_cast<size_t>(s.n_tokens) * n_heads * hd;
      const std::vector<float> qs(q.begin() + static_cast<std::ptrdiff_t>(at), q.begin() + static_cast<std::ptrdiff_t>(at + n));
      const std::vector<double> want = reference(*s.cache, layer, shape, s.pos0, s.n_tokens, qs);
      double worst = 0;
      for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(att[at + i] - want[i]));
      CHECK(worst < 2e-5);
    }
  }
}
