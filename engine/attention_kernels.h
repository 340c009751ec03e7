// The two inner loops of attention over a tile of cached positions of one KV head, several
// queries and positions at a time, reading the cache's rows where they lie (F32, or F16
// widened in registers: no copy of the tile). Each result is in exactly the order of the
// plain kernels (dot_f32, axpy) over the widened rows, so batching queries or positions
// never changes a bit of a query's result.
#pragma once

#include "engine/kv_cache.h"

namespace actinfer {

// For each of the n_queries queries qs[j]: out[j][i] = dot_f32(qs[j], k[i], n) * scale for i in
// [0, len), k[i] the i-th row of `k` widened to float, every score bit-identical to the plain
// call (up to three queries share each pass over a block of four rows). Returns in max_out[j]
// the largest of out[j] (the value std::max_element finds when no score is NaN). Both kernels
// take head dimensions n <= 512 (grouped_attention refuses larger ones).
void attention_scores(const float* const* qs, int n_queries, const KvRows& k, int len, int n, float scale, float* const* out,
                      float* max_out);

// For each of the n_outputs outputs o[j]: o[j][e] *= rescale[j] (skipped where rescale[j] is 1,
// as a factor of 1 changes no bit), then o[j] += p[j][i] * v[i] for i in [0, len) in that
// order (v[i] the i-th row of `v` widened): the same bits as the multiply followed by len
// calls of axpy(p[j][i], v[i], o[j], n), with an output's 64 dims at a time held in
// registers across the positions.
void attention_values(float* const* o, int n_outputs, int n, const float* rescale, const float* const* p, const KvRows& v, int len);

}  // namespace actinfer
