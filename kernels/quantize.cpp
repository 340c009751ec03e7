#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/type_kernels.h"
#include "kernels/quant_math.h"

namespace actinfer {

namespace {

// roundf (halfway cases away from zero) without a libm call; exact for every float.
inline int round_away(float v) {
  const float t = std::trunc(v);
  const float r = v - t;  // exact
  return static_cast<int>(t) + (r >= 0.5f) - (r <= -0.5f);
}


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
    const auto [amax, max] = signed_absmax(x, QK4_0);
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

}  // namespace kernels

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
  if (t == nullptr || t->quantize == nullptr) throw std::invalid_argument("quantize_row: unsupported type " + type_name(type));
  blocks_of(type, n, "quantize_row");
  t->quantize(src, dst, n);
}

}  // namespace actinfer
