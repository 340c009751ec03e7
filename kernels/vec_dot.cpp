#include "kernels/vec_dot.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/type_kernels.h"

namespace actinfer {

namespace {

[[noreturn]] void unsupported(const char* what, GgmlType type) {
  throw std::invalid_argument(std::string(what) + ": unsupported weight type " + type_name(type));
}

// Checks n against the weight's and the activation's block sizes.
void check_n(const char* what, GgmlType weight, int64_t n) {
  const int64_t bw = type_row(weight).block_elems;
  const int64_t ba = type_row(activation_type_for(weight)).block_elems;
  if (n < 0 || n % bw != 0 || n % ba != 0)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(n) +
                                " elements is not a whole number of " +
                                type_name(weight) + " blocks");
}

// ---- scalar kernels ---------------------------------------------------------------------

float dot_f32(const float* w, const float* x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += w[i] * x[i];
  return s;
}

float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += fp16_to_f32(w[i]) * x[i];
  return s;
}

float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += bf16_to_f32(w[i]) * x[i];
  return s;
}

float dot_q8_0(const block_q8_0* w, const block_q8_0* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t si = 0;
    for (int i = 0; i < QK8_0; ++i) si += static_cast<int32_t>(w[b].qs[i]) * a[b].qs[i];
    s += fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d) * static_cast<float>(si);
  }
  return s;
}

float dot_q4_0(const block_q4_0* w, const block_q8_0* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t si = 0;
    for (int i = 0; i < QK4_0 / 2; ++i) {
      si += ((w[b].qs[i] & 0x0F) - 8) * a[b].qs[i];
      si += ((w[b].qs[i] >> 4) - 8) * a[b].qs[i + QK4_0 / 2];
    }
    s += fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d) * static_cast<float>(si);
  }
  return s;
}

float dot_q4_1(const block_q4_1* w, const block_q8_1* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t si = 0;
    for (int i = 0; i < QK4_1 / 2; ++i) {
      si += (w[b].qs[i] & 0x0F) * a[b].qs[i];
      si += (w[b].qs[i] >> 4) * a[b].qs[i + QK4_1 / 2];
    }
    // sum_i (d_w q_i + m_w) d_a qa_i = d_w d_a sum(q qa) + m_w (d_a sum(qa)) with s_a = d_a sum(qa)
    s += fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d) * static_cast<float>(si) +
         fp16_to_f32(w[b].m) * fp16_to_f32(a[b].s);
  }
  return s;
}

float dot_q4_K(const block_q4_K* w, const block_q8_K* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t sc[8], mn[8];
    unpack_scale_min_k4(w[b].scales, sc, mn);
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      const int c = j / 2, hi = j % 2;
      int32_t dj = 0;
      for (int l = 0; l < 32; ++l) {
        const int q = hi ? (w[b].qs[32 * c + l] >> 4) : (w[b].qs[32 * c + l] & 0x0F);
        dj += q * a[b].qs[32 * j + l];
      }
      sumi += sc[j] * dj;
      summ += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    }
    s += fp16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi) -
         fp16_to_f32(w[b].dmin) * a[b].d * static_cast<float>(summ);
  }
  return s;
}

float dot_q5_K(const block_q5_K* w, const block_q8_K* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t sc[8], mn[8];
    unpack_scale_min_k4(w[b].scales, sc, mn);
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      const int c = j / 2, hi = j % 2;
      int32_t dj = 0;
      for (int l = 0; l < 32; ++l) {
        const int nib = hi ? (w[b].qs[32 * c + l] >> 4) : (w[b].qs[32 * c + l] & 0x0F);
        const int q = nib | (((w[b].qh[l] >> j) & 1) << 4);
        dj += q * a[b].qs[32 * j + l];
      }
      sumi += sc[j] * dj;
      summ += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    }
    s += fp16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi) -
         fp16_to_f32(w[b].dmin) * a[b].d * static_cast<float>(summ);
  }
  return s;
}

float dot_q6_K(const block_q6_K* w, const block_q8_K* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int8_t q[QK_K];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = w[b].ql + 64 * h;
      const uint8_t* qh = w[b].qh + 32 * h;
      int8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        qq[l] = static_cast<int8_t>(((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32);
        qq[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
        qq[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        qq[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t sumi = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t dj = 0;
      for (int l = 0; l < 16; ++l) dj += q[16 * j + l] * a[b].qs[16 * j + l];
      sumi += w[b].scales[j] * dj;
    }
    s += fp16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return s;
}

// The 5-bit quant of element i of a Q5_0 / Q5_1 block.
inline int q5_quant(const uint8_t* qs, const uint8_t* qh, int i) {
  const int nib = i < 16 ? (qs[i] & 0x0F) : (qs[i - 16] >> 4);
  return nib | (((qh[i / 8] >> (i % 8)) & 1) << 4);
}

float dot_q5_0(const block_q5_0* w, const block_q8_0* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t si = 0;
    for (int i = 0; i < QK5_0; ++i) si += (q5_quant(w[b].qs, w[b].qh, i) - 16) * a[b].qs[i];
    s += fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d) * static_cast<float>(si);
  }
  return s;
}

float dot_q5_1(const block_q5_1* w, const block_q8_1* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t si = 0;
    for (int i = 0; i < QK5_1; ++i) si += q5_quant(w[b].qs, w[b].qh, i) * a[b].qs[i];
    s += fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d) * static_cast<float>(si) + fp16_to_f32(w[b].m) * fp16_to_f32(a[b].s);
  }
  return s;
}

float dot_iq4_nl(const block_iq4_nl* w, const block_q8_0* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t si = 0;
    for (int i = 0; i < QK4_NL / 2; ++i) {
      si += kIq4nlValues[w[b].qs[i] & 0x0F] * a[b].qs[i];
      si += kIq4nlValues[w[b].qs[i] >> 4] * a[b].qs[i + 16];
    }
    s += fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d) * static_cast<float>(si);
  }
  return s;
}

float dot_q2_K(const block_q2_K* w, const block_q8_K* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t dj = 0;
      for (int e = 16 * j; e < 16 * j + 16; ++e)
        dj += ((w[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3) * a[b].qs[e];
      sumi += (w[b].scales[j] & 0x0F) * dj;
      summ += (w[b].scales[j] >> 4) * a[b].bsums[j];
    }
    s += fp16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi) -
         fp16_to_f32(w[b].dmin) * a[b].d * static_cast<float>(summ);
  }
  return s;
}

float dot_q3_K(const block_q3_K* w, const block_q8_K* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int8_t sc[16];
    unpack_q3_K_scales(w[b].scales, sc);
    int32_t sumi = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t dj = 0;
      for (int e = 16 * j; e < 16 * j + 16; ++e) {
        const int low = (w[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        dj += (low - (((w[b].hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4)) * a[b].qs[e];
      }
      sumi += sc[j] * dj;
    }
    s += fp16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return s;
}

float dot_iq4_xs(const block_iq4_xs* w, const block_q8_K* a, int64_t nb) {
  float s = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int8_t sc[8];
    unpack_iq4_xs_scales(w[b], sc);
    int32_t sumi = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = w[b].qs + 16 * j;
      const int8_t* x = a[b].qs + 32 * j;
      int32_t dj = 0;
      for (int i = 0; i < 16; ++i) dj += kIq4nlValues[q[i] & 0x0F] * x[i] + kIq4nlValues[q[i] >> 4] * x[i + 16];
      sumi += sc[j] * dj;
    }
    s += fp16_to_f32(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return s;
}

}  // namespace

namespace kernels {

float vec_dot_f32(const void* w, const void* act, int64_t n) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(act), n);
}
float vec_dot_f16(const void* w, const void* act, int64_t n) {
  return dot_f16(static_cast<const uint16_t*>(w), static_cast<const float*>(act), n);
}
float vec_dot_bf16(const void* w, const void* act, int64_t n) {
  return dot_bf16(static_cast<const uint16_t*>(w), static_cast<const float*>(act), n);
}
float vec_dot_q8_0(const void* w, const void* act, int64_t n) {
  return dot_q8_0(static_cast<const block_q8_0*>(w), static_cast<const block_q8_0*>(act), n / QK8_0);
}
float vec_dot_q4_0(const void* w, const void* act, int64_t n) {
  return dot_q4_0(static_cast<const block_q4_0*>(w), static_cast<const block_q8_0*>(act), n / QK4_0);
}
float vec_dot_q4_1(const void* w, const void* act, int64_t n) {
  return dot_q4_1(static_cast<const block_q4_1*>(w), static_cast<const block_q8_1*>(act), n / QK4_1);
}
float vec_dot_q4_K(const void* w, const void* act, int64_t n) {
  return dot_q4_K(static_cast<const block_q4_K*>(w), static_cast<const block_q8_K*>(act), n / QK_K);
}
float vec_dot_q5_K(const void* w, const void* act, int64_t n) {
  return dot_q5_K(static_cast<const block_q5_K*>(w), static_cast<const block_q8_K*>(act), n / QK_K);
}
float vec_dot_q6_K(const void* w, const void* act, int64_t n) {
  return dot_q6_K(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(act), n / QK_K);
}

float vec_dot_q5_0(const void* w, const void* act, int64_t n) {
  return dot_q5_0(static_cast<const block_q5_0*>(w), static_cast<const block_q8_0*>(act), n / QK5_0);
}
float vec_dot_q5_1(const void* w, const void* act, int64_t n) {
  return dot_q5_1(static_cast<const block_q5_1*>(w), static_cast<const block_q8_1*>(act), n / QK5_1);
}
float vec_dot_iq4_nl(const void* w, const void* act, int64_t n) {
  return dot_iq4_nl(static_cast<const block_iq4_nl*>(w), static_cast<const block_q8_0*>(act), n / QK4_NL);
}
float vec_dot_q2_K(const void* w, const void* act, int64_t n) {
  return dot_q2_K(static_cast<const block_q2_K*>(w), static_cast<const block_q8_K*>(act), n / QK_K);
}
float vec_dot_q3_K(const void* w, const void* act, int64_t n) {
  return dot_q3_K(static_cast<const block_q3_K*>(w), static_cast<const block_q8_K*>(act), n / QK_K);
}
float vec_dot_iq4_xs(const void* w, const void* act, int64_t n) {
  return dot_iq4_xs(static_cast<const block_iq4_xs*>(w), static_cast<const block_q8_K*>(act), n / QK_K);
}

}  // namespace kernels

namespace {

// The weight type's table row; throws for a type that cannot be a weight.
const TypeTraits& weight_row(const char* what, GgmlType weight) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(weight));
  if (t == nullptr || !t->weight) unsupported(what, weight);
  return *t;
}

}  // namespace

GgmlType activation_type_for(GgmlType weight) { return weight_row("activation_type_for", weight).vec_dot_type; }

namespace scalar {

void quantize_activation(GgmlType weight, const float* x, void* dst, int64_t n) {
  quantize_row(activation_type_for(weight), x, dst, n);
}

float vec_dot(GgmlType weight, int64_t n, const void* w, const void* act) {
  check_n("vec_dot", weight, n);
  return weight_row("vec_dot", weight).vec_dot(w, act, n);
}

void vec_dot_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                  const void* act, float* out) {
  const auto* w = static_cast<const uint8_t*>(w_rows);
  for (int64_t r = 0; r < n_rows; ++r) out[r] = scalar::vec_dot(weight, n, w + static_cast<size_t>(r) * row_stride, act);
}

void vec_dot_rows_multi(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                        const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride) {
  const auto* a = static_cast<const uint8_t*>(acts);
  for (int64_t t = 0; t < n_acts; ++t)
    scalar::vec_dot_rows(weight, n, w_rows, row_stride, n_rows, a + static_cast<size_t>(t) * act_stride,
                         out + static_cast<size_t>(t) * out_stride);
}

}  // namespace scalar

void quantize_activation(GgmlType weight, const float* x, void* dst, int64_t n) {
  const GgmlType at = activation_type_for(weight);
const TypeTraits& t = type_row(at);
  if (t.quantize_fast != nullptr && n >= 0 && n % t.block_elems == 0) return t.quantize_fast(x, dst, n);
  quantize_row(at, x, dst, n);
}

float vec_dot(GgmlType weight, int64_t n, const void* w_row, const void* act) {
  float out;
  vec_dot_rows(weight, n, w_row, 0, 1, act, &out);
  return out;
}

void vec_dot_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                  const void* act, float* out) {
  check_n("vec_dot_rows", weight, n);
  if (n_rows <= 0) return;
if (const auto fast = weight_row("vec_dot_rows", weight).vec_dot_rows_fast)
    return fast(n, w_rows, row_stride, n_rows, act, 0, 1, out, 0);
  scalar::vec_dot_rows(weight, n, w_rows, row_stride, n_rows, act, out);
}

void vec_dot_rows_multi(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                        const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride) {
  check_n("vec_dot_rows_multi", weight, n);
  if (n_rows <= 0 || n_acts <= 0) return;
if (const auto fast = weight_row("vec_dot_rows_multi", weight).vec_dot_rows_fast)
    return fast(n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride);
  scalar::vec_dot_rows_multi(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride);
}

}  // namespace actinfer
