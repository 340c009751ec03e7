#include "kernels/vec_dot.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot_avx2.h"

namespace actinfer {

namespace {

[[noreturn]] void unsupported(const char* what, GgmlType type) {
  throw std::invalid_argument(std::string(what) + ": unsupported weight type " +
                              std::string(type_name(static_cast<uint32_t>(type))));
}

// Checks n against the weight's and the activation's block sizes.
void check_n(const char* what, GgmlType weight, int64_t n) {
  const int64_t bw = traits(weight).block_elems;
  const int64_t ba = traits(activation_type_for(weight)).block_elems;
  if (n < 0 || n % bw != 0 || n % ba != 0)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(n) +
                                " elements is not a whole number of " +
                                std::string(type_name(static_cast<uint32_t>(weight))) + " blocks");
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

}  // namespace

GgmlType activation_type_for(GgmlType weight) {
  switch (weight) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16: return GgmlType::F32;
    case GgmlType::Q8_0:
    case GgmlType::Q4_0: return GgmlType::Q8_0;
    case GgmlType::Q4_1: return GgmlType::Q8_1;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K: return GgmlType::Q8_K;
    default: break;
  }
  unsupported("activation_type_for", weight);
}

namespace scalar {

void quantize_activation(GgmlType weight, const float* x, void* dst, int64_t n) {
  quantize_row(activation_type_for(weight), x, dst, n);
}

float vec_dot(GgmlType weight, int64_t n, const void* w, const void* act) {
  check_n("vec_dot", weight, n);
  const int64_t nb32 = n / 32, nbk = n / QK_K;
  switch (weight) {
    case GgmlType::F32: return dot_f32(static_cast<const float*>(w), static_cast<const float*>(act), n);
    case GgmlType::F16: return dot_f16(static_cast<const uint16_t*>(w), static_cast<const float*>(act), n);
    case GgmlType::BF16: return dot_bf16(static_cast<const uint16_t*>(w), static_cast<const float*>(act), n);
    case GgmlType::Q8_0:
      return dot_q8_0(static_cast<const block_q8_0*>(w), static_cast<const block_q8_0*>(act), nb32);
    case GgmlType::Q4_0:
      return dot_q4_0(static_cast<const block_q4_0*>(w), static_cast<const block_q8_0*>(act), nb32);
    case GgmlType::Q4_1:
      return dot_q4_1(static_cast<const block_q4_1*>(w), static_cast<const block_q8_1*>(act), nb32);
    case GgmlType::Q4_K:
      return dot_q4_K(static_cast<const block_q4_K*>(w), static_cast<const block_q8_K*>(act), nbk);
    case GgmlType::Q5_K:
      return dot_q5_K(static_cast<const block_q5_K*>(w), static_cast<const block_q8_K*>(act), nbk);
    case GgmlType::Q6_K:
      return dot_q6_K(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(act), nbk);
    default: break;
  }
  unsupported("vec_dot", weight);
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
#if ACTINFER_HAVE_AVX2_KERNELS
  if (n >= 0 && n % traits(at).block_elems == 0 && avx2::quantize_activation(at, x, dst, n)) return;
#endif
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
#if ACTINFER_HAVE_AVX2_KERNELS
  if (avx2::vec_dot_rows_multi(weight, n, w_rows, row_stride, n_rows, act, 0, 1, out, 0)) return;
#endif
  scalar::vec_dot_rows(weight, n, w_rows, row_stride, n_rows, act, out);
}

void vec_dot_rows_multi(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                        const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride) {
  check_n("vec_dot_rows_multi", weight, n);
  if (n_rows <= 0 || n_acts <= 0) return;
#if ACTINFER_HAVE_AVX2_KERNELS
  if (avx2::vec_dot_rows_multi(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride)) return;
#endif
  scalar::vec_dot_rows_multi(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride);
}

}  // namespace actinfer
