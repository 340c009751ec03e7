// IEEE half (fp16) and bfloat16 conversions.
//
// fp16: uses the F16C instructions where the compiler targets them (__F16C__), otherwise a
// portable integer implementation that gives the same bits (round to nearest even, subnormals
// kept, NaN quieted with its top payload bits kept, as vcvtps2ph does).
// bf16: the upper 16 bits of a float, rounded to nearest even; a NaN stays a (quiet) NaN.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace actinfer {

namespace fp16_detail {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Portable fp16 -> fp32, exact for every input.
inline float fp16_to_f32_portable(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F)  // inf, or NaN (quieted, as vcvtph2ps does)
    return bits_f32(sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x400000u : 0u));
  if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_f32(sign);  // +-0
  // Subnormal: value = mant * 2^-24; normalise it.
  int e = 113;  // float exponent field for 2^-14 is 113
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  mant &= 0x3FFu;
  return bits_f32(sign | (static_cast<uint32_t>(e) << 23) | (mant << 13));
}

// Portable fp32 -> fp16, round to nearest even (the same bits as vcvtps2ph with imm 0).
inline uint16_t f32_to_fp16_portable(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t exp = (x >> 23) & 0xFFu;
  const uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) {
    if (mant == 0) return static_cast<uint16_t>(sign | 0x7C00u);                      // inf
    return static_cast<uint16_t>(sign | 0x7E00u | (mant >> 13));                      // quiet NaN
  }
  const int e = static_cast<int>(exp) - 127 + 15;  // biased half exponent
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow -> inf
  if (e <= 0) {
    // Result is subnormal (or zero): value = m * 2^(e-1-23) with the implicit bit restored;
    // shift so the half mantissa unit is 2^-24.
    if (e < -10) return sign;  // below half of the smallest subnormal -> +-0
    const uint32_t m = mant | 0x800000u;
    const int shift = 14 - e;  // 14..24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;  // may carry into the normal range: fine
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry may round up to inf: correct
  return static_cast<uint16_t>(sign | h);
}

}  // namespace fp16_detail

inline float fp16_to_f32(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_detail::fp16_to_f32_portable(h);
#endif
}

inline uint16_t f32_to_fp16(float f) {
#if defined(__F16C__)
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#else
  return fp16_detail::f32_to_fp16_portable(f);
#endif
}

// out[i] = fp16 h[i] widened, n values (eight at a time with F16C).
inline void fp16_row_to_f32(const uint16_t* h, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
#endif
  for (; i < n; ++i) out[i] = fp16_to_f32(h[i]);
}

inline float bf16_to_f32(uint16_t h) { return fp16_detail::bits_f32(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t x = fp16_detail::f32_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace actinfer
