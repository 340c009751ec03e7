#include "kernels/dequantize.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/type_kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define ACTINFER_DEQUANT_AVX2 1
#endif

namespace actinfer {

namespace {

[[noreturn]] void unsupported(GgmlType type) {
  throw std::invalid_argument("dequantize_row: unsupported type " + type_name(type));
}

// ---- scalar reference kernels -------------------------------------------------------------
// Each output is computed as one exactly specified float expression (products of an fp16
// scale and small integers are exact in float), so every implementation agrees bit for bit.

void deq_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

void deq_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void deq_q8_0(const block_q8_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK8_0) {
    const float d = fp16_to_f32(x[b].d);
    for (int i = 0; i < QK8_0; ++i) y[i] = d * static_cast<float>(x[b].qs[i]);
  }
}

void deq_q8_1(const block_q8_1* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK8_1) {
    const float d = fp16_to_f32(x[b].d);
    for (int i = 0; i < QK8_1; ++i) y[i] = d * static_cast<float>(x[b].qs[i]);
  }
}

void deq_q4_0(const block_q4_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK4_0) {
    const float d = fp16_to_f32(x[b].d);
    for (int i = 0; i < QK4_0 / 2; ++i) {
      y[i] = d * static_cast<float>((x[b].qs[i] & 0x0F) - 8);
      y[i + QK4_0 / 2] = d * static_cast<float>((x[b].qs[i] >> 4) - 8);
    }
  }
}

void deq_q4_1(const block_q4_1* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK4_1) {
    const float d = fp16_to_f32(x[b].d);
    const float m = fp16_to_f32(x[b].m);
    for (int i = 0; i < QK4_1 / 2; ++i) {
      y[i] = d * static_cast<float>(x[b].qs[i] & 0x0F) + m;   // d*q is exact: fused or not,
      y[i + QK4_1 / 2] = d * static_cast<float>(x[b].qs[i] >> 4) + m;  // one rounding
    }
  }
}

void deq_q4_K(const block_q4_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_f32(x[b].d);
    const float dmin = fp16_to_f32(x[b].dmin);
    uint8_t sc[8], mn[8];
    unpack_scale_min_k4(x[b].scales, sc, mn);
    const uint8_t* q = x[b].qs;
    for (int c = 0; c < 4; ++c, q += 32, y += 64) {
      const float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      for (int l = 0; l < 32; ++l) {
        y[l] = d1 * static_cast<float>(q[l] & 0x0F) - m1;
        y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
      }
    }
  }
}

void deq_q5_K(const block_q5_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_f32(x[b].d);
    const float dmin = fp16_to_f32(x[b].dmin);
    uint8_t sc[8], mn[8];
    unpack_scale_min_k4(x[b].scales, sc, mn);
    const uint8_t* q = x[b].qs;
    const uint8_t* qh = x[b].qh;
    for (int c = 0; c < 4; ++c, q += 32, y += 64) {
      const float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      for (int l = 0; l < 32; ++l) {
        const int lo = (q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4);
        const int hi = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        y[l] = d1 * static_cast<float>(lo) - m1;
        y[l + 32] = d2 * static_cast<float>(hi) - m2;
      }
    }
  }
}

void deq_q6_K(const block_q6_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_f32(x[b].d);
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* sc = x[b].scales;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, y += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q0 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        // (d * scale) first, then * q: the order gguf uses (the second product can round).
        y[l] = (d * static_cast<float>(sc[is + 0])) * static_cast<float>(q0);
        y[l + 32] = (d * static_cast<float>(sc[is + 2])) * static_cast<float>(q1);
        y[l + 64] = (d * static_cast<float>(sc[is + 4])) * static_cast<float>(q2);
        y[l + 96] = (d * static_cast<float>(sc[is + 6])) * static_cast<float>(q3);
      }
    }
  }
}

void deq_q8_K(const block_q8_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK_K)
    for (int i = 0; i < QK_K; ++i) y[i] = x[b].d * static_cast<float>(x[b].qs[i]);
}

// Fifth bit of element i of a Q5_0 / Q5_1 block.
inline int q5_high_bit(const uint8_t qh[4], int i) { return (qh[i / 8] >> (i % 8)) & 1; }

void deq_q5_0(const block_q5_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK5_0) {
    const float d = fp16_to_f32(x[b].d);
    for (int i = 0; i < QK5_0 / 2; ++i) {
      y[i] = d * static_cast<float>(((x[b].qs[i] & 0x0F) | (q5_high_bit(x[b].qh, i) << 4)) - 16);
      y[i + 16] = d * static_cast<float>(((x[b].qs[i] >> 4) | (q5_high_bit(x[b].qh, i + 16) << 4)) - 16);
    }
  }
}

void deq_q5_1(const block_q5_1* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK5_1) {
    const float d = fp16_to_f32(x[b].d);
    const float m = fp16_to_f32(x[b].m);
    for (int i = 0; i < QK5_1 / 2; ++i) {  // d * q is exact: one rounding, fused or not
      y[i] = d * static_cast<float>((x[b].qs[i] & 0x0F) | (q5_high_bit(x[b].qh, i) << 4)) + m;
      y[i + 16] = d * static_cast<float>((x[b].qs[i] >> 4) | (q5_high_bit(x[b].qh, i + 16) << 4)) + m;
    }
  }
}

void deq_iq4_nl(const block_iq4_nl* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK4_NL) {
    const float d = fp16_to_f32(x[b].d);
    for (int i = 0; i < QK4_NL / 2; ++i) {
      y[i] = d * static_cast<float>(kIq4nlValues[x[b].qs[i] & 0x0F]);
      y[i + 16] = d * static_cast<float>(kIq4nlValues[x[b].qs[i] >> 4]);
    }
  }
}

void deq_q2_K(const block_q2_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK_K) {
    const float d = fp16_to_f32(x[b].d);
    const float dmin = fp16_to_f32(x[b].dmin);
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128, k = (e / 32) % 4, l = e % 32;
      const int q = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
      const uint8_t sc = x[b].scales[e / 16];
      // d * sc * q is exact: one rounding, fused or not.
      y[e] = (d * static_cast<float>(sc & 0x0F)) * static_cast<float>(q) - dmin * static_cast<float>(sc >> 4);
    }
  }
}

void deq_q3_K(const block_q3_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK_K) {
    const float d = fp16_to_f32(x[b].d);
    int8_t sc[16];
    unpack_q3_K_scales(x[b].scales, sc);
    for (int e = 0; e < QK_K; ++e) {
      const int h = e / 128, k = (e / 32) % 4, l = e % 32;
      const int low = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
      const int q = low - (((x[b].hmask[l] >> (e / 32)) & 1) ? 0 : 4);
      y[e] = (d * static_cast<float>(sc[e / 16])) * static_cast<float>(q);
    }
  }
}

void deq_iq4_xs(const block_iq4_xs* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_f32(x[b].d);
    int8_t sc[8];
    unpack_iq4_xs_scales(x[b], sc);
    for (int j = 0; j < 8; ++j, y += 32) {
      const float dl = d * static_cast<float>(sc[j]);
      const uint8_t* q = x[b].qs + 16 * j;
      for (int i = 0; i < 16; ++i) {
        y[i] = dl * static_cast<float>(kIq4nlValues[q[i] & 0x0F]);
        y[i + 16] = dl * static_cast<float>(kIq4nlValues[q[i] >> 4]);
      }
    }
  }
}

#if ACTINFER_DEQUANT_AVX2
// ---- AVX2 kernels for the simple types (the K-quant loops above vectorise well as written) ---

void deq_f16_avx2(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

void deq_bf16_avx2(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  }
  for (; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void deq_q8_0_avx2(const block_q8_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK8_0) {
    const __m256 d = _mm256_set1_ps(load_fp16(&x[b].d));
    for (int k = 0; k < 4; ++k) {
      const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[b].qs + 8 * k));
      const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
      _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, q));
    }
  }
}

// Q4_0 (kMin false): d * (q - 8); Q4_1: d * q + m. (Q4_0 must not add a +0.0: d * 0 with a
// negative d is -0.0, as in the scalar code.)
template <bool kMin>
void deq_q4_avx2(const uint8_t* qs, float* y, __m256 d, __m256 m) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
  const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int k = 0; k < 4; ++k) {
    const __m256i qi = _mm256_cvtepu8_epi32(parts[k]);
    if constexpr (kMin)
      _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(qi), m));
    else
      _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(qi, _mm256_set1_epi32(8)))));
  }
}

void deq_q4_0_avx2(const block_q4_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK4_0)
    deq_q4_avx2<false>(x[b].qs, y, _mm256_set1_ps(load_fp16(&x[b].d)), _mm256_setzero_ps());
}

void deq_q4_1_avx2(const block_q4_1* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += QK4_1)
    deq_q4_avx2<true>(x[b].qs, y, _mm256_set1_ps(load_fp16(&x[b].d)), _mm256_set1_ps(load_fp16(&x[b].m)));
}
#endif

}  // namespace

// ---- the table's entry points (kernels/type_kernels.h) ----------------------------------------

namespace kernels {

template <class Block, void (*kFn)(const Block*, float*, int64_t), int64_t kElems>
void blocks(const void* src, float* dst, int64_t n) {
  kFn(static_cast<const Block*>(src), dst, n / kElems);
}

void dequantize_f32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); }
void dequantize_f16(const void* src, float* dst, int64_t n) { deq_f16(static_cast<const uint16_t*>(src), dst, n); }
void dequantize_bf16(const void* src, float* dst, int64_t n) { deq_bf16(static_cast<const uint16_t*>(src), dst, n); }
void dequantize_q8_0(const void* src, float* dst, int64_t n) { blocks<block_q8_0, deq_q8_0, QK8_0>(src, dst, n); }
void dequantize_q8_1(const void* src, float* dst, int64_t n) { blocks<block_q8_1, deq_q8_1, QK8_1>(src, dst, n); }
void dequantize_q4_0(const void* src, float* dst, int64_t n) { blocks<block_q4_0, deq_q4_0, QK4_0>(src, dst, n); }
void dequantize_q4_1(const void* src, float* dst, int64_t n) { blocks<block_q4_1, deq_q4_1, QK4_1>(src, dst, n); }
void dequantize_q4_K(const void* src, float* dst, int64_t n) { blocks<block_q4_K, deq_q4_K, QK_K>(src, dst, n); }
void dequantize_q5_K(const void* src, float* dst, int64_t n) { blocks<block_q5_K, deq_q5_K, QK_K>(src, dst, n); }
void dequantize_q6_K(const void* src, float* dst, int64_t n) { blocks<block_q6_K, deq_q6_K, QK_K>(src, dst, n); }
void dequantize_q8_K(const void* src, float* dst, int64_t n) { blocks<block_q8_K, deq_q8_K, QK_K>(src, dst, n); }
void dequantize_q5_0(const void* src, float* dst, int64_t n) { blocks<block_q5_0, deq_q5_0, QK5_0>(src, dst, n); }
void dequantize_q5_1(const void* src, float* dst, int64_t n) { blocks<block_q5_1, deq_q5_1, QK5_1>(src, dst, n); }
void dequantize_iq4_nl(const void* src, float* dst, int64_t n) { blocks<block_iq4_nl, deq_iq4_nl, QK4_NL>(src, dst, n); }
void dequantize_q2_K(const void* src, float* dst, int64_t n) { blocks<block_q2_K, deq_q2_K, QK_K>(src, dst, n); }
void dequantize_q3_K(const void* src, float* dst, int64_t n) { blocks<block_q3_K, deq_q3_K, QK_K>(src, dst, n); }
void dequantize_iq4_xs(const void* src, float* dst, int64_t n) { blocks<block_iq4_xs, deq_iq4_xs, QK_K>(src, dst, n); }

#if ACTINFER_DEQUANT_AVX2
void dequantize_f16_avx2(const void* src, float* dst, int64_t n) { deq_f16_avx2(static_cast<const uint16_t*>(src), dst, n); }
void dequantize_bf16_avx2(const void* src, float* dst, int64_t n) { deq_bf16_avx2(static_cast<const uint16_t*>(src), dst, n); }
void dequantize_q8_0_avx2(const void* src, float* dst, int64_t n) { blocks<block_q8_0, deq_q8_0_avx2, QK8_0>(src, dst, n); }
void dequantize_q4_0_avx2(const void* src, float* dst, int64_t n) { blocks<block_q4_0, deq_q4_0_avx2, QK4_0>(src, dst, n); }
void dequantize_q4_1_avx2(const void* src, float* dst, int64_t n) { blocks<block_q4_1, deq_q4_1_avx2, QK4_1>(src, dst, n); }
#endif

}  // namespace kernels

namespace {

// The type's table row, after checking that it can be dequantized and that n is whole blocks.
const TypeTraits& checked(GgmlType type, int64_t n) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
  if (t == nullptr || t->dequantize == nullptr) unsupported(type);
  blocks_of(type, n, "dequantize_row");
  return *t;
}

}  // namespace

namespace scalar {

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) { checked(type, n).dequantize(src, dst, n); }

}  // namespace scalar

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  const TypeTraits& t = checked(type, n);
  (t.dequantize_fast ? t.dequantize_fast : t.dequantize)(src, dst, n);
}

}  // namespace actinfer
