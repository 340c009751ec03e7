// The two inner loops of attention over a tile of cached positions, several positions or
// several vector registers at a time, each result in exactly the order of the plain kernels
// (dot_f32, axpy): batching queries or positions never changes a bit of a query's result.
#pragma once

namespace actinfer {

// out[i] = dot_f32(q, k[i], n) * scale for i in [0, len): eight positions at a time, each
// summed in dot_f32's order, so every score is bit-identical to the plain call.
void attention_scores(const float* q, const float* const* k, int len, int n, float scale, float* out);

// o[e] *= rescale (when rescale is not 1: skipped, as a factor of 1 is), then
// o += p[i] * v[i] for i in [0, len) in that order: the same bits as the multiply followed
// by len calls of axpy(p[i], v[i], o, n), with o held in registers across the positions.
void attention_values(float* o, int n, float rescale, const float* p, const float* const* v, int len);

}  // namespace actinfer
