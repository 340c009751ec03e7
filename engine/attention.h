// Causal grouped-query attention over the KV cache. Each work item is one token and
// one KV head with every query head of its group, so each K and V row is read once per
// group (not once per query head); scores are kept per tile of positions with a running
// (online) softmax, so no scratch grows with the context. At small batches a long
// context is also split into position chunks whose partial softmax sums are combined
// afterwards, so decode at depth keeps every thread busy.
#pragma once
#include <vector>

#include "engine/kv_cache.h"
#include "engine/thread_pool.h"

namespace actinfer {

struct AttentionShape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  int window = 0;  // > 0: a query sees only its last `window` positions (gemma3's local layers)
};

// att[t][h * head_dim ..] = softmax(q_th . K[first .. pos0+t] * scale) V for the B tokens at
// positions pos0.., reading layer `layer` of the cache (already holding their keys and
// values). q and att are [B][n_heads * head_dim]. `partials` is scratch, grown as needed.
void grouped_attention(ThreadPool& pool, const KvCache& cache, int layer, const AttentionShape& shape, int pos0, int B,
                       const float* q, float* att, std::vector<float>& partials);

}  // namespace actinfer
