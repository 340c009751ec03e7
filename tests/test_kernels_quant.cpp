// Randomised checks of the kernels: quantization error bounds, vectorised == scalar, and dot
// products against dequantized float references.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/fp16.h"
#include "kernels/ggml_type.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"
#include "tests/random_data.h"

using namespace actinfer;
using actinfer::testing::gaussian;

namespace {

const GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,   GgmlType::Q8_0,  GgmlType::Q4_0,
                                 GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,   GgmlType::Q2_K,  GgmlType::Q3_K,
                                 GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,   GgmlType::IQ4_NL, GgmlType::IQ4_XS};

uint16_t random_half(std::mt19937& rng, float lo, float hi, bool allow_negative) {
  std::uniform_real_distribution<float> u(std::log(lo), std::log(hi));
  float v = std::exp(u(rng));
  if (allow_negative && (rng() & 1)) v = -v;
  return f32_to_fp16(v);
}

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// n elements of random valid data of `type`: random bytes with finite, moderate scales.
std::vector<uint8_t> random_row(std::mt19937& rng, GgmlType type, int64_t n) {
  std::vector<uint8_t> v(static_cast<size_t>(row_bytes(type, n)));
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  const int64_t bb = traits(type).block_bytes;
  const auto nb = static_cast<int64_t>(v.size()) / bb;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* p = v.data() + b * bb;
    switch (type) {
      case GgmlType::F32: {
        const float f = std::normal_distribution<float>(0.0f, 1.0f)(rng);
        std::memcpy(p, &f, 4);
        break;
      }
      case GgmlType::F16: put16(p, random_half(rng, 1e-3f, 4.0f, true)); break;
      case GgmlType::BF16: {
        const float f = std::normal_distribution<float>(0.0f, 1.0f)(rng);
        put16(p, f32_to_bf16(f));
        break;
      }
      case GgmlType::Q8_0:
      case GgmlType::Q4_0:
      case GgmlType::Q5_0:
      case GgmlType::IQ4_NL: put16(p, random_half(rng, 1e-3f, 0.1f, true)); break;
      case GgmlType::Q4_1:
      case GgmlType::Q5_1:
        put16(p, random_half(rng, 1e-3f, 0.1f, false));
        put16(p + 2, random_half(rng, 1e-3f, 0.5f, true));
        break;
      case GgmlType::Q4_K:
      case GgmlType::Q5_K:
        put16(p, random_half(rng, 1e-4f, 1e-2f, false));
        put16(p + 2, random_half(rng, 1e-4f, 1e-2f, false));
        break;
      case GgmlType::Q6_K: put16(p + 208, random_half(rng, 1e-4f, 1e-2f, true)); break;
      case GgmlType::Q2_K:
        put16(p + 80, random_half(rng, 1e-4f, 1e-2f, true));
        put16(p + 82, random_half(rng, 1e-4f, 1e-2f, false));
        break;
      case GgmlType::Q3_K: put16(p + 108, random_half(rng, 1e-4f, 1e-2f, true)); break;
      case GgmlType::IQ4_XS: put16(p, random_half(rng, 1e-4f, 1e-2f, true)); break;
      default: break;
    }
  }
  return v;
}

std::vector<float> deq(GgmlType type, const void* data, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  scalar::dequantize_row(type, data, v.data(), n);
  return v;
}

struct Dot {
  double value = 0, abs = 0;  // sum of products and sum of |products|
};
Dot dot(const std::vector<float>& a, const std::vector<float>& b) {
  Dot d;
  for (size_t i = 0; i < a.size(); ++i) {
    const double p = static_cast<double>(a[i]) * b[i];
    d.value += p;
    d.abs += std::fabs(p);
  }
  return d;
}

// Largest error of rounding v to fp16 (normal range: half an ulp; subnormal: 2^-25).
double fp16_err(double v) { return std::max(std::fabs(v) * 0x1p-11, 0x1p-25); }

// Upper bound of |sum over Q4_1 / Q5_1 blocks of m_w * (s_a - fp16(d_a) * sum(q_a))|: s =
// fp16(d * sum) is rounded once, and computed from the unrounded d (as ggml does). Both weight
// blocks hold their fp16 m at byte 2.
double q4_1_s_rounding(GgmlType t, const uint8_t* w, const uint8_t* act, int64_t n) {
  double bound = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    uint16_t m;
    std::memcpy(&m, w + b * traits(t).block_bytes + 2, 2);
    const auto* ab = reinterpret_cast<const block_q8_1*>(act) + b;
    int sum = 0;
    for (int8_t q : ab->qs) sum += q;
    const double s = std::fabs(fp16_to_f32(ab->s));
    bound += std::fabs(fp16_to_f32(m)) * (fp16_err(s) + fp16_err(fp16_to_f32(ab->d)) * std::abs(sum));
  }
  return bound;
}

}  // namespace

TEST_CASE("kernels: quantize_activation gives the bytes of quantize_row") {
  std::mt19937 rng(1);
  for (GgmlType w : {GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::Q4_K}) {
    const GgmlType at = activation_type_for(w);
    for (int64_t n : {256, 512, 1536, 2816}) {
      CAPTURE(type_name(at));
      CAPTURE(n);
      std::vector<float> x = gaussian(rng, n, 3.0f);
      // Rounding ties: with max |x| = 127 the step is 1, so k + 0.5 lies halfway.
      for (int i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i - 16) + 0.5f;
      x[5] = 127.0f;
      std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
      x[64] = 1e30f;                                    // a huge value
      std::vector<uint8_t> a(static_cast<size_t>(row_bytes(at, n))), b(a.size()), c(a.size());
      quantize_activation(w, x.data(), a.data(), n);
      quantize_row(at, x.data(), b.data(), n);
      scalar::quantize_activation(w, x.data(), c.data(), n);
      CHECK(a == b);
      CHECK(c == b);
    }
  }
  // F32 activations are copied.
  const float x[5] = {1, -2, 3, -4, 5};
  float y[5];
  quantize_activation(GgmlType::F16, x, y, 5);
  CHECK(std::equal(x, x + 5, y));
}

TEST_CASE("kernels: dequantize(quantize(x)) error bounds") {
  std::mt19937 rng(2);
  const int64_t n = 4096;
  std::vector<float> x = gaussian(rng, n);
  // Some blocks at other magnitudes and with offsets.
  for (int64_t i = 512; i < 1024; ++i) x[static_cast<size_t>(i)] *= 1e-3f;
  for (int64_t i = 1024; i < 1536; ++i) x[static_cast<size_t>(i)] = x[static_cast<size_t>(i)] * 100.0f + 300.0f;

  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K,
                     GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    CAPTURE(type_name(t));
    std::vector<uint8_t> q(static_cast<size_t>(row_bytes(t, n)));
    quantize_row(t, x.data(), q.data(), n);
    std::vector<float> y(static_cast<size_t>(n)), ys(static_cast<size_t>(n));
    dequantize_row(t, q.data(), y.data(), n);
    scalar::dequantize_row(t, q.data(), ys.data(), n);
    CHECK(std::memcmp(y.data(), ys.data(), y.size() * 4) == 0);

    const int64_t bs = std::max<int64_t>(traits(t).block_elems, 32);
    int bad = 0;
    double err2 = 0, sig2 = 0;
    for (int64_t b0 = 0; b0 < n; b0 += bs) {
      float amax = 0, lo = x[static_cast<size_t>(b0)], hi = lo;
      for (int64_t i = b0; i < b0 + bs; ++i) {
        amax = std::max(amax, std::fabs(x[static_cast<size_t>(i)]));
        lo = std::min(lo, x[static_cast<size_t>(i)]);
        hi = std::max(hi, x[static_cast<size_t>(i)]);
      }
      // Per-element bound for this block (see the quantizers in kernels/quantize.cpp):
      double bound = 0;
      switch (t) {
        case GgmlType::F32: bound = 0; break;
        case GgmlType::F16: bound = amax * 0x1p-11 + 0x1p-25; break;
        case GgmlType::BF16: bound = amax * 0x1p-8; break;
        // step d = amax/127: half a step plus the fp16 rounding of d times |q| <= 127
        case GgmlType::Q8_0:
        case GgmlType::Q8_1: bound = amax / 127.0 * 0.5 + 127 * fp16_err(amax / 127.0) + 1e-12; break;
        case GgmlType::Q8_K: bound = amax / 127.0 * 0.5 * (1 + 1e-6) + 1e-12; break;
        // |d| = amax/8; the largest values of the sign opposite to the extreme clip a full step
        case GgmlType::Q4_0: bound = amax / 8.0 + 8 * fp16_err(amax / 8.0) + 1e-12; break;
        // d = (hi-lo)/15: half a step, fp16 rounding of d (|q| <= 15) and of the min
        case GgmlType::Q4_1: bound = (hi - lo) / 15.0 * 0.5 + 15 * fp16_err((hi - lo) / 15.0) + fp16_err(lo) + 1e-12; break;
        // simple K quantizers: the 6-bit sub-block scale rounding can clip by up to ~1 step
        case GgmlType::Q4_K: bound = (hi - std::min(lo, 0.0f)) / 15.0 * 1.6 + 1e-9; break;
        case GgmlType::Q5_K: bound = (hi - std::min(lo, 0.0f)) / 31.0 * 1.6 + 1e-9; break;
        case GgmlType::Q6_K: bound = amax / 32.0 * 1.1 + 1e-9; break;
        default: break;
      }
      for (int64_t i = b0; i < b0 + bs; ++i) {
        const double e = std::fabs(static_cast<double>(y[static_cast<size_t>(i)]) - x[static_cast<size_t>(i)]);
        err2 += e * e;
        sig2 += static_cast<double>(x[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)];
        if (e > bound && ++bad <= 3)
          MESSAGE("element " << i << ": x " << x[static_cast<size_t>(i)] << " y " << y[static_cast<size_t>(i)]
                             << " bound " << bound);
      }
    }
    CHECK(bad == 0);
    // And overall (relative RMS error; Gaussian-ish data):
    const double rel = std::sqrt(err2 / sig2);
    const double max_rel = t == GgmlType::Q4_0 || t == GgmlType::Q4_1 ? 0.12
                           : t == GgmlType::Q4_K                      ? 0.12
                           : t == GgmlType::Q5_K                      ? 0.06
                           : t == GgmlType::Q6_K                      ? 0.03
                                                                      : 0.01;
    CAPTURE(rel);
    CHECK(rel < max_rel);
  }
}

TEST_CASE("kernels: vectorised dequantize_row == scalar on random blocks") {
  std::mt19937 rng(3);
  for (GgmlType t : kWeightTypes) {
    CAPTURE(type_name(t));
    const int64_t n = 1024 + traits(t).block_elems * 3 % 256;  // 1024 or 1120 for the 32 types
    const auto data = random_row(rng, t, n - n % (traits(t).block_elems == 256 ? 256 : 32));
    const int64_t m = static_cast<int64_t>(data.size()) / traits(t).block_bytes * traits(t).block_elems;
    std::vector<float> a(static_cast<size_t>(m)), b(static_cast<size_t>(m));
    dequantize_row(t, data.data(), a.data(), m);
    scalar::dequantize_row(t, data.data(), b.data(), m);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  }
}

TEST_CASE("kernels: vec_dot_rows == scalar, == dequantized dot, for every weight type") {
  std::mt19937 rng(4);
  for (GgmlType t : kWeightTypes) {
    const GgmlType at = activation_type_for(t);
    const int64_t blk = traits(t).block_elems == 256 ? 256 : 32;
    for (int64_t n : std::initializer_list<int64_t>{blk, 3 * blk, 4 * blk, 7 * blk, 576 - 576 % blk, 1536, 2816}) {
      for (int64_t rows : {1, 2, 3, 4, 5, 7, 9}) {
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(rows);
        const size_t rb = static_cast<size_t>(row_bytes(t, n));
        const size_t stride = rb + (rows % 2 ? 0 : 8);  // padded rows too (keeping F32 rows 4-byte aligned, as in a GGUF file)
        std::vector<uint8_t> w(stride * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          const auto row = random_row(rng, t, n);
          std::memcpy(w.data() + static_cast<size_t>(r) * stride, row.data(), rb);
        }
        const std::vector<float> x = gaussian(rng, n);
        std::vector<uint8_t> act(static_cast<size_t>(row_bytes(at, n)));
        quantize_activation(t, x.data(), act.data(), n);
        const std::vector<float> xa = deq(at, act.data(), n);

        std::vector<float> out(static_cast<size_t>(rows)), out_s(static_cast<size_t>(rows));
        vec_dot_rows(t, n, w.data(), stride, rows, act.data(), out.data());
        scalar::vec_dot_rows(t, n, w.data(), stride, rows, act.data(), out_s.data());
        for (int64_t r = 0; r < rows; ++r) {
          const uint8_t* wr = w.data() + static_cast<size_t>(r) * stride;
          const std::vector<float> wf = deq(t, wr, n);
          const Dot ref = dot(wf, xa);  // exact products of the dequantized values
          // Only the float summation order (and for Q4_1 the fp16 s) differs from ref.
          double tol = 2e-6 * ref.abs + 1e-30;
          if (t == GgmlType::Q4_1 || t == GgmlType::Q5_1) tol += q4_1_s_rounding(t, wr, act.data(), n);
          CHECK(std::fabs(out[static_cast<size_t>(r)] - ref.value) <= tol);
          CHECK(std::fabs(out_s[static_cast<size_t>(r)] - ref.value) <= tol);
          CHECK(std::fabs(out[static_cast<size_t>(r)] - out_s[static_cast<size_t>(r)]) <= 2 * tol);
          CHECK(vec_dot(t, n, wr, act.data()) == out[static_cast<size_t>(r)]);

          // Against the float activation: each activation element is off by at most
          // d_a / 2 + 127 * |fp16(d_a) - d_a| (Q8_0/Q8_1: d_a rounded to fp16) or d_a / 2 (Q8_K).
          if (at != GgmlType::F32) {
            const int64_t ab = traits(at).block_elems;
            double bound = tol;
            for (int64_t b0 = 0; b0 < n; b0 += ab) {
              float amax = 0;
              for (int64_t i = b0; i < b0 + ab; ++i) amax = std::max(amax, std::fabs(x[static_cast<size_t>(i)]));
              const double step = amax / 127.0 * 0.5 + (at == GgmlType::Q8_K ? 0.0 : 127 * fp16_err(amax / 127.0));
              for (int64_t i = b0; i < b0 + ab; ++i) bound += std::fabs(wf[static_cast<size_t>(i)]) * step;
            }
            const Dot exact = dot(wf, x);
            CHECK(std::fabs(out[static_cast<size_t>(r)] - exact.value) <= bound * 1.0001);
          }
        }
      }
    }
  }
}

TEST_CASE("kernels: quantized dot products track the float dot product") {
  // A typical case: Gaussian weights quantized by our quantizers, Gaussian activations. The
  // relative error of the dot (vs the float weights and activations) stays small.
  std::mt19937 rng(5);
  const int64_t n = 1536, rows = 64;
  struct Limit {
    GgmlType t;
    double max_rel;  // of the RMS error over rows, relative to the RMS of the exact dots
  };
  for (const Limit lim : {Limit{GgmlType::F32, 1e-5}, Limit{GgmlType::F16, 1e-3}, Limit{GgmlType::BF16, 1e-2},
                          Limit{GgmlType::Q8_0, 0.02}, Limit{GgmlType::Q4_0, 0.15}, Limit{GgmlType::Q4_1, 0.15},
                          Limit{GgmlType::Q4_K, 0.15}, Limit{GgmlType::Q5_K, 0.08}, Limit{GgmlType::Q6_K, 0.04}}) {
    CAPTURE(type_name(lim.t));
    const std::vector<float> wf = gaussian(rng, n * rows);
    const std::vector<float> x = gaussian(rng, n);
    const size_t rb = static_cast<size_t>(row_bytes(lim.t, n));
    std::vector<uint8_t> w(rb * rows);
    for (int64_t r = 0; r < rows; ++r) quantize_row(lim.t, wf.data() + r * n, w.data() + r * rb, n);
    std::vector<uint8_t> act(static_cast<size_t>(row_bytes(activation_type_for(lim.t), n)));
    quantize_activation(lim.t, x.data(), act.data(), n);
    std::vector<float> out(rows);
    vec_dot_rows(lim.t, n, w.data(), rb, rows, act.data(), out.data());
    double e2 = 0, s2 = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double exact = 0;
      for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(wf[static_cast<size_t>(r * n + i)]) * x[static_cast<size_t>(i)];
      e2 += (out[static_cast<size_t>(r)] - exact) * (out[static_cast<size_t>(r)] - exact);
      s2 += exact * exact;
    }
    const double rel = std::sqrt(e2 / s2);
    CAPTURE(rel);
    CHECK(rel < lim.max_rel);
  }
}

TEST_CASE("kernels: vec_dot_rows_multi == vec_dot_rows per activation, bit for bit") {
  std::mt19937 rng(6);
  for (GgmlType t : kWeightTypes) {
    const GgmlType at = activation_type_for(t);
    const int64_t n = traits(t).block_elems == 256 ? 768 : 608;  // 19 blocks of 32: pairs, a group tail, an odd block
    const size_t rb = static_cast<size_t>(row_bytes(t, n));
    const size_t ab = static_cast<size_t>(row_bytes(at, n)) + 40;  // padded activation rows
    for (int64_t rows : {1, 5, 100}) {
      for (int64_t acts : {1, 2, 7, 70}) {
        CAPTURE(type_name(t));
        CAPTURE(rows);
        CAPTURE(acts);
        std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          const auto row = random_row(rng, t, n);
          std::memcpy(w.data() + static_cast<size_t>(r) * rb, row.data(), rb);
        }
        std::vector<uint8_t> a(ab * static_cast<size_t>(acts));
        for (int64_t k = 0; k < acts; ++k) {
          const auto x = gaussian(rng, n);
          quantize_activation(t, x.data(), a.data() + static_cast<size_t>(k) * ab, n);
        }
        const size_t os = static_cast<size_t>(rows) + 3;
        std::vector<float> out(os * static_cast<size_t>(acts), -7.0f), outs(out.size(), -7.0f);
        vec_dot_rows_multi(t, n, w.data(), rb, rows, a.data(), ab, acts, out.data(), os);
        scalar::vec_dot_rows_multi(t, n, w.data(), rb, rows, a.data(), ab, acts, outs.data(), os);
        int bad = 0, bad_s = 0;
        for (int64_t k = 0; k < acts; ++k) {
          std::vector<float> one(static_cast<size_t>(rows)), one_s(static_cast<size_t>(rows));
          vec_dot_rows(t, n, w.data(), rb, rows, a.data() + static_cast<size_t>(k) * ab, one.data());
          scalar::vec_dot_rows(t, n, w.data(), rb, rows, a.data() + static_cast<size_t>(k) * ab, one_s.data());
          for (int64_t r = 0; r < rows; ++r) {
            bad += out[static_cast<size_t>(k) * os + static_cast<size_t>(r)] != one[static_cast<size_t>(r)];
            bad_s += outs[static_cast<size_t>(k) * os + static_cast<size_t>(r)] != one_s[static_cast<size_t>(r)];
          }
          for (size_t r = static_cast<size_t>(rows); r < os; ++r) bad += out[static_cast<size_t>(k) * os + r] != -7.0f;
        }
        CHECK(bad == 0);
        CHECK(bad_s == 0);
      }
    }
  }
  float out[1];
  CHECK_THROWS_AS(vec_dot_rows_multi(GgmlType::Q4_0, 48, out, 18, 1, out, 36, 1, out, 1), std::invalid_argument);
}
