// Causal grouped-query attention over the KV cache. Each work item is one token and
// one KV head with every query head of its group, so each K and V row is read once per
// group (not once per query head); scores are kept per tile of positions with a running
// (online) softmax, so no scratch grows with the context. At small batches a long
// context is also split into position chunks whose partial softmax sums are combined
// afterwards, so decode at depth keeps every thread busy.
#pragma once
#include <span>
#include <vector>

#include "engine/kv_cache.h"
#include "engine/thread_pool.h"

namespace actinfer {

struct AttentionShape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  int window = 0;  // > 0: a query sees only its last `window` positions (gemma3's local layers)
};

// One sequence of a step: n_tokens rows from `row0` on, at positions pos0.. of its cache.
struct AttentionSequence {
  KvCache* cache = nullptr;
  int pos0 = 0, row0 = 0, n_tokens = 0;
};

// att[r][h * head_dim ..] = softmax(q_rh . K[first .. pos] * scale) V for every row r of
// every sequence (pos: the row's position), reading layer `layer` of the sequence's cache
// (already holding the rows' keys and values); all sequences' work items share one
// parallel region. q and att are [rows][n_heads * head_dim]. `partials` is scratch, grown
// as needed.
void grouped_attention(ThreadPool& pool, int layer, const AttentionShape& shape, std::span<const AttentionSequence> sequences,
                       const float* q, float* att, std::vector<float>& partials);

}  // namespace actinfer
