#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/type_kernels.h"

namespace actinfer {

namespace {

int64_t blocks_of(GgmlType type, int64_t n) {
  const TypeTraits t = traits(type);
  if (n < 0 || n % t.block_elems != 0)
    throw std::invalid_argument("quantize_row: " + std::string(t.name) + " row of " +
                                std::to_string(n) + " elements is not a multiple of its block size");
  return n / t.block_elems;
}

// Returns x unchanged, but the compiler cannot fuse the multiply that produced it with a
// following add (-ffp-contract=fast would otherwise turn a*b+c into an fma and change the
// rounding that the reference quantizers, and gguf's numpy code, use).
inline float unfused(float x) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(x));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(x));
#else
  volatile float v = x;
  x = v;
#endif
  return x;
}

// roundf (halfway cases away from zero) without a libm call; exact for every float.
inline int round_away(float v) {
  const float t = std::trunc(v);
  const float r = v - t;  // exact
  return static_cast<int>(t) + (r >= 0.5f) - (r <= -0.5f);
}

inline int clampi(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

void quant_q8_0(const float* x, block_q8_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK8_0) {
    float amax = 0.0f;
    for (int i = 0; i < QK8_0; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int i = 0; i < QK8_0; ++i) y[b].qs[i] = static_cast<int8_t>(round_away(x[i] * id));
  }
}

void quant_q8_1(const float* x, block_q8_1* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK8_1) {
    float amax = 0.0f;
    for (int i = 0; i < QK8_1; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < QK8_1; ++i) {
      const int q = round_away(x[i] * id);
      y[b].qs[i] = static_cast<int8_t>(q);
      sum += q;
    }
    y[b].d = f32_to_fp16(d);
    y[b].s = f32_to_fp16(d * static_cast<float>(sum));
  }
}

void quant_q8_K(const float* x, block_q8_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK_K) {
    float amax = 0.0f;
    for (int i = 0; i < QK_K; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = d;
    for (int g = 0; g < QK_K / 16; ++g) {
      int sum = 0;
      for (int i = 16 * g; i < 16 * g + 16; ++i) {
        const int q = round_away(x[i] * id);
        y[b].qs[i] = static_cast<int8_t>(q);
        sum += q;
      }
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

// ggml's reference: the value of largest magnitude maps to -8, q = min(15, trunc(x/d + 8.5)).
void quant_q4_0(const float* x, block_q4_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK4_0) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < QK4_0; ++i)
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        max = x[i];
      }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int i = 0; i < QK4_0 / 2; ++i) {
      const int q0 = std::min(15, static_cast<int>(unfused(x[i] * id) + 8.5f));
      const int q1 = std::min(15, static_cast<int>(unfused(x[i + QK4_0 / 2] * id) + 8.5f));
      y[b].qs[i] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ggml's reference: d = (max - min) / 15, m = min, q = min(15, trunc((x - min)/d + 0.5)).
void quant_q4_1(const float* x, block_q4_1* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK4_1) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < QK4_1; ++i) {
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
    }
    const float d = (mx - mn) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    y[b].m = f32_to_fp16(mn);
    for (int i = 0; i < QK4_1 / 2; ++i) {
      const int q0 = std::min(15, static_cast<int>(unfused((x[i] - mn) * id) + 0.5f));
      const int q1 = std::min(15, static_cast<int>(unfused((x[i + QK4_1 / 2] - mn) * id) + 0.5f));
      y[b].qs[i] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// Shared by Q4_K (nmax = 15) and Q5_K (nmax = 31): 8 sub-blocks of 32 with
// x ~= d*sc[j]*q - dmin*m[j]. Fills the fp16 scales, the packed 6-bit scales and q[256].
void quant_k_scales_mins(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out,
                         uint8_t* packed, uint8_t* q) {
  float scale[8], minv[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    float lo = 0.0f, hi = x[32 * j];  // the min is clamped to <= 0: m[j] is subtracted
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    scale[j] = std::max(0.0f, hi - lo) / static_cast<float>(nmax);
    minv[j] = -lo;
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, minv[j]);
  }
  *d_out = f32_to_fp16(max_scale / 63.0f);
  *dmin_out = f32_to_fp16(max_min / 63.0f);
  const float d = fp16_to_f32(*d_out), dmin = fp16_to_f32(*dmin_out);
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(d > 0.0f ? clampi(round_away(scale[j] / d), 0, 63) : 0);
    mn[j] = static_cast<uint8_t>(dmin > 0.0f ? clampi(round_away(minv[j] / dmin), 0, 63) : 0);
    const float dl = d * sc[j], ml = dmin * mn[j];
    for (int l = 0; l < 32; ++l)
      q[32 * j + l] = static_cast<uint8_t>(dl > 0.0f ? clampi(round_away((x[32 * j + l] + ml) / dl), 0, nmax) : 0);
  }
  pack_scale_min_k4(sc, mn, packed);
}

void quant_q4_K(const float* x, block_q4_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK_K) {
    uint8_t q[QK_K];
    quant_k_scales_mins(x, 15, &y[b].d, &y[b].dmin, y[b].scales, q);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        y[b].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

void quant_q5_K(const float* x, block_q5_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK_K) {
    uint8_t q[QK_K];
    quant_k_scales_mins(x, 31, &y[b].d, &y[b].dmin, y[b].scales, q);
    std::memset(y[b].qh, 0, sizeof y[b].qh);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        y[b].qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        y[b].qh[l] = static_cast<uint8_t>(y[b].qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

// 16 sub-blocks of 16: the value of largest magnitude of each maps to q - 32 = -32; the
// sub-block scales are int8 against the fp16 super-block scale d.
void quant_q6_K(const float* x, block_q6_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK_K) {
    float scale[16];
    float max_abs_scale = 0.0f, max_scale = 0.0f;
    for (int j = 0; j < 16; ++j) {
      float amax = 0.0f, max = 0.0f;
      for (int l = 0; l < 16; ++l)
        if (std::fabs(x[16 * j + l]) > amax) {
          amax = std::fabs(x[16 * j + l]);
          max = x[16 * j + l];
        }
      scale[j] = max / -32.0f;
      if (std::fabs(scale[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scale[j]);
        max_scale = scale[j];
      }
    }
    y[b].d = f32_to_fp16(max_scale / -128.0f);  // the largest scale maps to -128
    const float d = fp16_to_f32(y[b].d);
    uint8_t q[QK_K];
    for (int j = 0; j < 16; ++j) {
      const int ls = d != 0.0f ? clampi(round_away(scale[j] / d), -128, 127) : 0;
      y[b].scales[j] = static_cast<int8_t>(ls);
      const float dl = d * static_cast<float>(ls);
      for (int l = 0; l < 16; ++l)
        q[16 * j + l] = static_cast<uint8_t>(dl != 0.0f ? clampi(round_away(x[16 * j + l] / dl), -32, 31) + 32 : 32);
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qq = q + 128 * h;
      uint8_t* ql = y[b].ql + 64 * h;
      uint8_t* qh = y[b].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((qq[l] & 0x0F) | ((qq[l + 64] & 0x0F) << 4));
        ql[l + 32] = static_cast<uint8_t>((qq[l + 32] & 0x0F) | ((qq[l + 96] & 0x0F) << 4));
        qh[l] = static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                                     ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace

namespace kernels {

template <class Block, void (*kFn)(const float*, Block*, int64_t), int64_t kElems>
void blocks(const float* src, void* dst, int64_t n) {
  kFn(src, static_cast<Block*>(dst), n / kElems);
}

void quantize_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); }
void quantize_f16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(src[i]);
}
void quantize_bf16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(src[i]);
}
void quantize_q8_0(const float* src, void* dst, int64_t n) { blocks<block_q8_0, quant_q8_0, QK8_0>(src, dst, n); }
void quantize_q8_1(const float* src, void* dst, int64_t n) { blocks<block_q8_1, quant_q8_1, QK8_1>(src, dst, n); }
void quantize_q8_K(const float* src, void* dst, int64_t n) { blocks<block_q8_K, quant_q8_K, QK_K>(src, dst, n); }
void quantize_q4_0(const float* src, void* dst, int64_t n) { blocks<block_q4_0, quant_q4_0, QK4_0>(src, dst, n); }
void quantize_q4_1(const float* src, void* dst, int64_t n) { blocks<block_q4_1, quant_q4_1, QK4_1>(src, dst, n); }
void quantize_q4_K(const float* src, void* dst, int64_t n) { blocks<block_q4_K, quant_q4_K, QK_K>(src, dst, n); }
void quantize_q5_K(const float* src, void* dst, int64_t n) { blocks<block_q5_K, quant_q5_K, QK_K>(src, dst, n); }
void quantize_q6_K(const float* src, void* dst, int64_t n) { blocks<block_q6_K, quant_q6_K, QK_K>(src, dst, n); }

}  // namespace kernels

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
  if (t == nullptr || t->quantize == nullptr) throw std::invalid_argument("quantize_row: unsupported type " + type_name(type));
  blocks_of(type, n);
  t->quantize(src, dst, n);
}

}  // namespace actinfer
