#include "kernels/ggml_quantizers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_math.h"

namespace actinfer::ggml_quant {

namespace {

constexpr int kSuper = 256;             // elements of a K-quant / IQ4_XS super-block
constexpr float kGroupMaxEps = 1e-15f;  // below this a group counts as all zero

int64_t whole_blocks(const char* type, int64_t n, int64_t block) {
  if (n < 0 || n % block != 0)
    throw std::invalid_argument(std::string("quantize: ") + type + " row of " + std::to_string(n) +
                                " elements is not a multiple of its block size " + std::to_string(block));
  return n / block;
}

// Round half to even, as ggml's nearest_int does for the magnitudes quantizers see.
inline int nearest_int(float v) { return static_cast<int>(std::nearbyint(v)); }
inline int clampi(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

void put_fp16(uint8_t* p, float v) {
  const uint16_t h = f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}
float get_fp16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

// ---- Q5_0 / Q5_1 (32 elements): element i < 16 in the low nibble of qs[i], i >= 16 in the
// high nibble of qs[i - 16]; the fifth bit of element i is bit i of the 32-bit qh.

void pack_q5(const int* q, uint8_t* qh_bytes, uint8_t* qs) {
  uint32_t qh = 0;
  for (int i = 0; i < 16; ++i) {
    qs[i] = static_cast<uint8_t>((q[i] & 0x0F) | ((q[i + 16] & 0x0F) << 4));
    qh |= static_cast<uint32_t>(q[i] >> 4) << i;
    qh |= static_cast<uint32_t>(q[i + 16] >> 4) << (i + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

// ---- make_qkx2-style fit: x ~= scale * L - min_out over n elements, L in [0, nmax].
// Starts from the min/max grid, then tries nstep + 1 grids with nmax + rmin + rdelta * k
// levels over the range, each refitting scale and min by weighted least squares; keeps the
// grid of least weighted error (absolute error if use_abs, squared otherwise).
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out, float rmin,
                    float rdelta, int nstep, bool use_abs) {
  float lo = x[0], hi = x[0], sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(L, L + n, uint8_t{0});
    *min_out = -lo;
    return 0.0f;
  }
  auto err = [use_abs](float d) { return use_abs ? std::fabs(d) : d * d; };
  float iscale = nmax / (hi - lo);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clampi(nearest_int(iscale * (x[i] - lo)), 0, nmax);
    L[i] = static_cast<uint8_t>(l);
    best += w[i] * err(scale * l + lo - x[i]);
  }
  uint8_t trial[32];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * step + nmax) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clampi(nearest_int(iscale * (x[i] - lo)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float e = 0;
    for (int i = 0; i < n; ++i) e += w[i] * err(this_scale * trial[i] + this_min - x[i]);
    if (e < best) {
      std::copy(trial, trial + n, L);
      best = e;
      scale = this_scale;
      lo = this_min;
    }
  }
  *min_out = -lo;
  return scale;
}

// ---- make_qx-style symmetric fit: x ~= scale * (L - nmax), L - nmax in [-nmax, nmax - 1],
// error weighted by x^2; 19 trial grids around the one that maps the extreme to -nmax.
float fit_symmetric(int n, int nmax, const float* x, uint8_t* L) {
  const auto [amax, max] = signed_absmax(x, n);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, uint8_t{0});
    return 0;
  }
  auto fit = [&](float iscale, float& sumlx, float& suml2) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  };
  auto assign = [&](float iscale) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
  };
  float iscale = -nmax / max;
  float sumlx, suml2;
  fit(iscale, sumlx, suml2);
  assign(iscale);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(nmax + 0.1f * k) / max;
    fit(iscale, sumlx, suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      assign(iscale);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// ---- make_q3-style fit: symmetric levels in [-nmax, nmax - 1], then up to five rounds of
// moving single elements to the level that best improves the x^2-weighted least-squares fit.
// L receives level + nmax.
float fit_symmetric_descent(int n, int nmax, const float* x, uint8_t* L) {
  const auto [amax, max] = signed_absmax(x, n);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, uint8_t{0});
    return 0;
  }
  const float iscale = -nmax / max;
  int l[16];
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    l[i] = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l[i];
    suml2 += w * l[i] * l[i];
  }
  for (int round = 0; round < 5; ++round) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * l[i];
      if (slx <= 0) continue;
      float sl2 = suml2 - w * l[i] * l[i];
      const int nl = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (nl == l[i]) continue;
      slx += w * x[i] * nl;
      sl2 += w * nl * nl;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        l[i] = nl;
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(l[i] + nmax);
  return sumlx / suml2;
}

// Index of the IQ4 level nearest to v (ties to the lower level).
int nearest_level(float v) {
  const int8_t* lv = kIq4Levels;
  if (v <= lv[0]) return 0;
  if (v >= lv[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < lv[mid]) hi = mid;
    else lo = mid;
  }
  return v - lv[hi - 1] < lv[hi] - v ? hi - 1 : hi;
}

// Best scale of one 32-element IQ4 block (x^2-weighted), trying 15 grids; 0 for an all-zero
// block.
float iq4_block_scale(const float* x) {
  const auto [amax, max] = signed_absmax(x, 32);
  if (amax < kGroupMaxEps) return 0;
  constexpr int kTries = 7;
  auto sums = [&](float id, float& sumqx, float& sumq2) {
    sumqx = sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = kIq4Levels[nearest_level(id * x[j])];
      const float w = x[j] * x[j];
      sumqx += w * q * x[j];
      sumq2 += w * q * q;
    }
  };
  float sumqx, sumq2;
  sums(1 / (-max / kIq4Levels[0]), sumqx, sumq2);
  float d = sumqx / sumq2;
  float best = d * sumqx;
  for (int t = -kTries; t <= kTries; ++t) {
    sums((t + kIq4Levels[0]) / max, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// 32 level indices -> 16 bytes: element j < 16 low nibble of byte j, j >= 16 high nibble.
void pack_nibbles32(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
}

// Q4_K / Q5_K scales: 8 six-bit scales and mins in 12 bytes (see kernels/quant_blocks.h).
void pack_scales_mins(const uint8_t* sc, const uint8_t* mn, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4));
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills d, dmin (fp16 at p, p + 2), the 12 scale
// bytes (p + 4) and the 256 levels L.
void quantize_k_scale_min(const float* x, int nmax, float rmin, int nstep, uint8_t* p, uint8_t* L) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    mn[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
  }
  put_fp16(p, max_scale / 63.0f);
  put_fp16(p + 2, max_min / 63.0f);
  pack_scales_mins(sc, mn, p + 4);
  const float d = get_fp16(p), dmin = get_fp16(p + 2);
  for (int j = 0; j < 8; ++j) {
    const float dl = d * sc[j];
    if (dl == 0) continue;
    const float ml = dmin * mn[j];
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] = static_cast<uint8_t>(clampi(nearest_int((x[32 * j + l] + ml) / dl), 0, nmax));
  }
}

// 256 two-bit values: element 128h + 32s + l in bits 2s of byte 32h + l.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* q = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
    }
}

}  // namespace

void quantize_q5_0(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q5_0", n, 32);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += 32, y += 22) {
    const auto [amax, max] = signed_absmax(x, 32);
    const float d = max / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int q[32];
    for (int i = 0; i < 32; ++i) q[i] = std::min(31, static_cast<int>(unfused(x[i] * id) + 16.5f));
    put_fp16(y, d);
    pack_q5(q, y + 2, y + 6);
  }
}

void quantize_q5_1(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q5_1", n, 32);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += 32, y += 24) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const float d = (hi - lo) / 31;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int q[32];
    for (int i = 0; i < 32; ++i) q[i] = std::min(31, static_cast<int>(unfused((x[i] - lo) * id) + 0.5f));
    put_fp16(y, d);
    put_fp16(y + 2, lo);
    pack_q5(q, y + 4, y + 8);
  }
}

// Q2_K block (84 bytes): scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
void quantize_q2_K(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q2_K", n, kSuper);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += kSuper, y += 84) {
    uint8_t L[kSuper];
    float scales[16], mins[16], weights[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = fit_scale_min(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    uint8_t* sc = y;
    std::memset(sc, 0, 16);
    if (max_scale > 0) {
      const float iscale = 15.0f / max_scale;
      for (int j = 0; j < 16; ++j) sc[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    }
    put_fp16(y + 80, max_scale > 0 ? max_scale / 15.0f : 0.0f);
    if (max_min > 0) {
      const float iscale = 15.0f / max_min;
      for (int j = 0; j < 16; ++j) sc[j] = static_cast<uint8_t>(sc[j] | (nearest_int(iscale * mins[j]) << 4));
    }
    put_fp16(y + 82, max_min > 0 ? max_min / 15.0f : 0.0f);
    const float d = get_fp16(y + 80), dmin = get_fp16(y + 82);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * (sc[j] & 0x0F);
      if (dl == 0) continue;
      const float ml = dmin * (sc[j] >> 4);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(clampi(nearest_int((x[16 * j + l] + ml) / dl), 0, 3));
    }
    pack_2bit(L, y + 16);
  }
}

// Q3_K block (110 bytes): hmask[32], qs[64], scales[12], d.
void quantize_q3_K(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q3_K", n, kSuper);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += kSuper, y += 110) {
    uint8_t L[kSuper];
    float scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = fit_symmetric_descent(16, 4, x + 16 * j, L + 16 * j);
    const float max_scale = signed_absmax(scales, 16).max;
    uint8_t* hmask = y;
    uint8_t* qs = y + 32;
    uint8_t* sc = y + 96;
    std::memset(sc, 0, 12);
    if (max_scale != 0) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = clampi(nearest_int(iscale * scales[j]), -32, 31) + 32;
        if (j < 8) sc[j] = static_cast<uint8_t>(l & 0x0F);
        else sc[j - 8] = static_cast<uint8_t>(sc[j - 8] | ((l & 0x0F) << 4));
        sc[8 + j % 4] = static_cast<uint8_t>(sc[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
      }
      put_fp16(y + 108, 1 / iscale);
    } else {
      put_fp16(y + 108, 0.0f);
    }
    const float d = get_fp16(y + 108);
    for (int j = 0; j < 16; ++j) {
      const int low = j < 8 ? sc[j] & 0x0F : sc[j - 8] >> 4;
      const int s = (low | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      const float dl = d * s;
      if (dl == 0) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(clampi(nearest_int(x[16 * j + l] / dl), -4, 3) + 4);
    }
    // Third bit of element 32k + l: bit k of hmask[l]; the two low bits as in Q2_K.
    std::memset(hmask, 0, 32);
    for (int i = 0; i < kSuper; ++i)
      if (L[i] > 3) {
        hmask[i % 32] = static_cast<uint8_t>(hmask[i % 32] | (1 << (i / 32)));
        L[i] = static_cast<uint8_t>(L[i] - 4);
      }
    pack_2bit(L, qs);
  }
}

// Q4_K block (144 bytes): d, dmin, scales[12], qs[128]; chunk c of 64 elements in
// qs[32c..32c+31], low nibbles first.
void quantize_q4_K(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q4_K", n, kSuper);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += kSuper, y += 144) {
    uint8_t L[kSuper];
    quantize_k_scale_min(x, 15, -1.0f, 20, y, L);
    uint8_t* qs = y + 16;
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

// Q5_K block (176 bytes): d, dmin, scales[12], qh[32], qs[128]; as Q4_K plus the fifth bit of
// element 64c + l in bit 2c of qh[l], of element 64c + 32 + l in bit 2c + 1.
void quantize_q5_K(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q5_K", n, kSuper);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += kSuper, y += 176) {
    uint8_t L[kSuper];
    quantize_k_scale_min(x, 31, -0.5f, 15, y, L);
    uint8_t* qh = y + 16;
    uint8_t* qs = y + 48;
    std::memset(qh, 0, 32);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        qh[l] = static_cast<uint8_t>(qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

// Q6_K block (210 bytes): ql[128], qh[64], scales[16] (int8), d.
void quantize_q6_K(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("Q6_K", n, kSuper);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += kSuper, y += 210) {
    uint8_t L[kSuper];
    float scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
    const auto [max_abs, max_scale] = signed_absmax(scales, 16);
    if (max_abs < kGroupMaxEps) {
      std::memset(y, 0, 210);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    put_fp16(y + 208, 1 / iscale);
    auto* sc = reinterpret_cast<int8_t*>(y + 192);
    for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    const float d = get_fp16(y + 208);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * sc[j];
      if (dl == 0) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(clampi(nearest_int(x[16 * j + l] / dl), -32, 31) + 32);
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = L + 128 * h;
      uint8_t* ql = y + 64 * h;
      uint8_t* qh = y + 128 + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0x0F) | ((q[l + 64] & 0x0F) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0x0F) | ((q[l + 96] & 0x0F) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                     ((q[l + 96] >> 4) << 6));
      }
    }
  }
}

// IQ4_NL block (18 bytes): d, qs[16].
void quantize_iq4_nl(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("IQ4_NL", n, 32);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += 32, y += 18) {
    const float d = iq4_block_scale(x);
    put_fp16(y, d);
    const float id = d != 0 ? 1 / d : 0.0f;
    uint8_t L[32];
    for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
    pack_nibbles32(L, y + 2);
  }
}

// IQ4_XS block (136 bytes): d, scales_h (u16: 2 high bits per block), scales_l[4] (4 low
// bits per block), qs[128] (16 bytes per 32-element block, as IQ4_NL).
void quantize_iq4_xs(const float* x, void* dst, int64_t n) {
  const int64_t nb = whole_blocks("IQ4_XS", n, kSuper);
  auto* y = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, x += kSuper, y += 136) {
    float scales[8];
    float amax = 0, max_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      scales[ib] = iq4_block_scale(x + 32 * ib);
      if (std::fabs(scales[ib]) > amax) {
        amax = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    const float d = -max_scale / 32;
    put_fp16(y, d);
    const float id = d != 0 ? 1 / d : 0.0f;
    uint16_t scales_h = 0;
    uint8_t* scales_l = y + 4;
    std::memset(scales_l, 0, 4);
    for (int ib = 0; ib < 8; ++ib) {
      int l = clampi(nearest_int(id * scales[ib]), -32, 31);
      const float dl = d * l;
      const float idl = dl != 0 ? 1 / dl : 0.0f;
      uint8_t L[32];
      for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(nearest_level(idl * x[32 * ib + j]));
      pack_nibbles32(L, y + 8 + 16 * ib);
      l += 32;
      scales_l[ib / 2] = static_cast<uint8_t>(scales_l[ib / 2] | ((l & 0x0F) << (4 * (ib % 2))));
      scales_h = static_cast<uint16_t>(scales_h | ((l >> 4) << (2 * ib)));
    }
    std::memcpy(y + 2, &scales_h, 2);
  }
}

}  // namespace actinfer::ggml_quant
