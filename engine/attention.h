// Causal grouped-query attention over the KV cache. Each work item is a query tile (up to
// 16 consecutive rows of one sequence) and one KV head with every query head of its group:
// the cache's rows are read in place (F16 widened in registers), each K row once per three
// queries of the tile that share its positions and each V row once from memory (the other
// queries re-read it from L1), not once per query head and row from memory; scores are
// kept per tile of positions with a running (online) softmax, so no scratch grows with the
// context. A long context is also split into position chunks (from the row's own span
// only) whose partial softmax sums are combined afterwards: decode at depth keeps every
// thread busy. A row's arithmetic depends on its own position alone (its chunks, its tiles
// of 64 positions, the order of every sum), never on the rows it shares a tile with, so
// batching changes no bit of a result.
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
// as needed: per chunked row (at most 16 chunks per head) and per thread, never per position
// of the context.
void grouped_attention(ThreadPool& pool, int layer, const AttentionShape& shape, std::span<const AttentionSequence> sequences,
                       const float* q, float* att, std::vector<float>& partials);

}  // namespace actinfer
