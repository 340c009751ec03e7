// The two inner loops of attention over a tile of cached positions, several positions,
// queries or vector registers at a time, each result in exactly the order of the plain
// kernels (dot_f32, axpy): batching queries or positions never changes a bit of a
// query's result.
#pragma once

namespace actinfer {

// For each of the n_queries (1 or 2) queries qs[j]: out[j][i] = dot_f32(qs[j], k[i], n) * scale
// for i in [0, len), every score bit-identical to the plain call (eight positions, and with
// AVX-512 both queries, per pass over the dims). Returns in max_out[j] the largest of
// out[j] (the value std::max_element finds when no score is NaN).
void attention_scores(const float* const* qs, int n_queries, const float* const* k, int len, int n, float scale, float* const* out,
                      float* max_out);

// For each of the n_outputs (1 or 2) outputs o[j]: o[j][e] *= rescale[j] (skipped where
// rescale[j] is 1, as a factor of 1 changes no bit), then o[j] += p[j][i] * v[i] for i in
// [0, len) in that order: the same bits as the multiply followed by len calls of
// axpy(p[j][i], v[i], o[j], n), with the outputs held in registers across the positions.
void attention_values(float* const* o, int n_outputs, int n, const float* rescale, const float* const* p, const float* const* v, int len);

}  // namespace actinfer
