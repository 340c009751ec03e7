// The blocked float GEMM of F32, F16 and BF16 weights (kernels/gemm_float.h, used by
// matmul_rows for batches of 4+ tokens): against a double-precision product of the
// dequantized weights, with tails of tokens, rows and K chunks; bit-identical for any split
// of the rows and between the AVX2 and AVX-512 kernels (BF16 through vdpbf16ps: against the
// product with the tokens rounded to BF16).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/fp16.h"
#include "kernels/gemm_float.h"
#include "kernels/ggml_type.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot_avx2.h"
#include "tests/skip_report.h"
#include "tests/random_data.h"

using namespace actinfer;
using actinfer::testing::gaussian;

namespace {

constexpr GgmlType kFloatTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16};

struct Rows {
  std::vector<std::byte> bytes;  // rows of the type, stride bytes apart
  std::vector<float> values;     // the same rows dequantized
  size_t stride = 0;
};

// Random rows of `type`, stored with a few spare bytes past each row.
Rows make_rows(std::mt19937& rng, GgmlType type, int64_t rows, int64_t n) {
  Rows w;
  const size_t rb = static_cast<size_t>(row_bytes(type, n));
  w.stride = rb + 8;
  w.bytes.assign(w.stride * static_cast<size_t>(rows), std::byte{0x55});
  w.values.resize(static_cast<size_t>(rows * n));
  const std::vector<float> f = gaussian(rng, rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row(type, f.data() + r * n, w.bytes.data() + w.stride * static_cast<size_t>(r), n);
    dequantize_row(type, w.bytes.data() + w.stride * static_cast<size_t>(r), w.values.data() + r * n, n);
  }
  return w;
}

}  // namespace

TEST_CASE("gemm_float: the float weight types have it, in batches of 4+ tokens") {
  for (GgmlType t : kFloatTypes) CHECK(has_float_gemm(t) == (ACTINFER_HAVE_AVX2_KERNELS != 0));
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q8_K}) CHECK_FALSE(has_float_gemm(t));
  alignas(32) std::byte buf[4096] = {};
  float out[64];
  CHECK_THROWS_AS(gemm_float(GgmlType::Q4_0, 32, buf, 18, 1, reinterpret_cast<const float*>(buf), 128, 1, out, 1),
                  std::invalid_argument);
  if (!has_float_gemm(GgmlType::F16)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the float GEMM is not compiled");
    return;
  }
  CHECK_THROWS_AS(gemm_float(GgmlType::F16, 32, buf, 32, 2, reinterpret_cast<const float*>(buf), 128, 2, out, 2),
                  std::invalid_argument);  // row stride shorter than a row
  CHECK_THROWS_AS(gemm_float(GgmlType::F16, 32, buf, 64, 2, reinterpret_cast<const float*>(buf), 64, 2, out, 2),
                  std::invalid_argument);  // activation stride shorter than a row
  QuantizedBatch q;
  for (GgmlType t : kFloatTypes) {
    CAPTURE(type_name(t));
    for (auto [batch, uses] : {std::pair{1, false}, {3, false}, {4, true}, {17, true}, {512, true}}) {
      q.resize(t, 64, batch);
      CHECK(q.float_gemm() == uses);
      CHECK(q.tiled_tokens() == 0);
    }
    q.resize(t, 64, 16, /*exact=*/true);
    CHECK_FALSE(q.float_gemm());
    q.resize(t, 64, 16, /*exact=*/false, BatchKernels::kBatchInvariant);  // token by token
    CHECK_FALSE(q.float_gemm());
  }
  q.resize(GgmlType::Q4_0, 64, 16);
  CHECK_FALSE(q.float_gemm());
}

TEST_CASE("gemm_float: equals the double product of the dequantized weights, with tails") {
  if (!has_float_gemm(GgmlType::F32)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the float GEMM is not compiled");
    return;
  }
  std::mt19937 rng(4242);
  for (GgmlType t : kFloatTypes) {
    // K: short, odd, a chunk and a tail (the kernel walks K 256 at a time), several chunks.
    for (int64_t n : {int64_t{7}, int64_t{64}, int64_t{300}, int64_t{600}}) {
      // Rows: within one panel, two panels, and groups of panels with a short last one.
      for (int64_t rows : {int64_t{1}, int64_t{5}, int64_t{33}, int64_t{47}, int64_t{211}}) {
        const Rows w = make_rows(rng, t, rows, n);
        for (int tokens : {1, 3, 4, 5, 8, 17, 64}) {
          CAPTURE(type_name(t));
          CAPTURE(n);
          CAPTURE(rows);
          CAPTURE(tokens);
          // Activations n + 3 floats apart, at several magnitudes.
          const size_t xs = static_cast<size_t>(n + 3);
          std::vector<float> x(xs * static_cast<size_t>(tokens));
          for (int k = 0; k < tokens; ++k) {
            const auto g = gaussian(rng, n, std::pow(10.0f, static_cast<float>(k % 5 - 2)));
            std::copy(g.begin(), g.end(), x.begin() + static_cast<std::ptrdiff_t>(xs * static_cast<size_t>(k)));
          }
          const size_t os = static_cast<size_t>(rows + 5);
          std::vector<float> out(os * static_cast<size_t>(tokens), -7.0f);
          gemm_float(t, n, w.bytes.data(), w.stride, rows, x.data(), xs * sizeof(float), tokens, out.data() + 2, os);
          const bool bf16_acts = gemm_float_bf16_activations(t) && n % 2 == 0;
          int bad = 0;
          for (int k = 0; k < tokens; ++k) {
            for (size_t r = 0; r < os; ++r) {
              const float got = out[static_cast<size_t>(k) * os + r];
              if (r < 2 || r >= static_cast<size_t>(rows) + 2) {  // untouched
                bad += got != -7.0f;
                continue;
              }
              const float* wr = w.values.data() + (r - 2) * static_cast<size_t>(n);
              const float* xk = x.data() + xs * static_cast<size_t>(k);
              double exact = 0, mag = 0;
              for (int64_t i = 0; i < n; ++i) {
                // BF16 weights on AVX512_BF16 builds: the tokens rounded to BF16 first.
                const double xi = bf16_acts ? bf16_to_f32(f32_to_bf16(xk[i])) : xk[i];
                exact += static_cast<double>(wr[i]) * xi;
                mag += std::fabs(static_cast<double>(wr[i]) * xi);
              }
              // The bound of a chain of n fused multiply-adds in float.
              const double tol = 1.01 * static_cast<double>(n) * std::ldexp(1.0, -24) * mag + 1e-30;
              if (!(std::fabs(got - exact) <= tol) && ++bad <= 3)
                MESSAGE("token " << k << " row " << r - 2 << ": " << got << " vs " << exact << " (tolerance " << tol << ")");
            }
          }
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("gemm_float: the same bits for any split of the rows, and from both kernels") {
  if (!has_float_gemm(GgmlType::F32)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the float GEMM is not compiled");
    return;
  }
  std::mt19937 rng(77);
  for (GgmlType t : kFloatTypes) {
    const int64_t n = 520, rows = 211, tokens = 29;  // rows: two groups of panels and a part
    CAPTURE(type_name(t));
    const Rows w = make_rows(rng, t, rows, n);
    const std::vector<float> x = gaussian(rng, n * tokens);
    const size_t xs = static_cast<size_t>(n) * sizeof(float);
    std::vector<float> whole(static_cast<size_t>(rows * tokens));
    gemm_float(t, n, w.bytes.data(), w.stride, rows, x.data(), xs, tokens, whole.data(), rows);
    // Rows split as threads split them (16-row boundaries) and at odd places.
    for (int64_t cut : {int64_t{16}, int64_t{48}, int64_t{7}, int64_t{61}, int64_t{96}, int64_t{150}}) {
      std::vector<float> split(static_cast<size_t>(rows * tokens));
      gemm_float(t, n, w.bytes.data(), w.stride, cut, x.data(), xs, tokens, split.data(), rows);
      gemm_float(t, n, w.bytes.data() + w.stride * static_cast<size_t>(cut), w.stride, rows - cut, x.data(), xs, tokens,
                 split.data() + cut, rows);
      CHECK(std::memcmp(split.data(), whole.data(), whole.size() * sizeof(float)) == 0);
    }
    // Tokens in two calls.
    std::vector<float> by_tokens(static_cast<size_t>(rows * tokens));
    gemm_float(t, n, w.bytes.data(), w.stride, rows, x.data(), xs, 13, by_tokens.data(), rows);
    gemm_float(t, n, w.bytes.data(), w.stride, rows, x.data() + 13 * n, xs, tokens - 13, by_tokens.data() + 13 * rows, rows);
    CHECK(std::memcmp(by_tokens.data(), whole.data(), whole.size() * sizeof(float)) == 0);
#if ACTINFER_HAVE_AVX2_KERNELS
    // The AVX2 kernel gives the AVX-512 kernel's bits (gemm_float runs the AVX-512 one where
    // compiled), except where BF16 rows go through vdpbf16ps with BF16-rounded tokens.
    if (gemm_float_bf16_activations(t)) continue;
    std::vector<float> avx2(static_cast<size_t>(rows * tokens));
    kernels::gemm_float_avx2(t, n, w.bytes.data(), w.stride, rows, x.data(), xs, tokens, avx2.data(), rows);
    CHECK(std::memcmp(avx2.data(), whole.data(), whole.size() * sizeof(float)) == 0);
#endif
  }
}

TEST_CASE("gemm_float: matmul_rows uses it for prompt batches of float weights") {
  if (!has_float_gemm(GgmlType::F16)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the float GEMM is not compiled");
    return;
  }
  std::mt19937 rng(5);
  for (GgmlType t : kFloatTypes) {
    CAPTURE(type_name(t));
    const int64_t n = 96, rows = 21;
    const int tokens = 11;
    const Rows w = make_rows(rng, t, rows, n);
    const WeightMatrix m{t, rows, n, w.bytes.data(), w.stride};
    const std::vector<float> x = gaussian(rng, n * tokens);
    QuantizedBatch q;
    q.resize(t, n, tokens);
    q.quantize(x.data(), 0, tokens);
    REQUIRE(q.float_gemm());
    std::vector<float> y(static_cast<size_t>(rows * tokens), -1.0f), ref(y.size());
    matmul_rows(m, q, y.data(), rows, 0, 16);
    matmul_rows(m, q, y.data(), rows, 16, rows);
    gemm_float(t, n, w.bytes.data(), w.stride, rows, x.data(), n * sizeof(float), tokens, ref.data(), rows);
    CHECK(std::memcmp(y.data(), ref.data(), y.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("gemm_float: tokens packed once per batch, by ranges as threads quantize them, give the same bits") {
  if (!has_float_gemm(GgmlType::F16)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the float GEMM is not compiled");
    return;
  }
  std::mt19937 rng(9);
  for (GgmlType t : kFloatTypes) {
    // K across chunks of 256 with a tail; token blocks of 3 (9 tokens: a block cut by the range
    // boundary at 8) and of 4 with a short last block (19 tokens).
    const int64_t n = 600, rows = 53;
    const Rows w = make_rows(rng, t, rows, n);
    const WeightMatrix m{t, rows, n, w.bytes.data(), w.stride};
    for (int tokens : {4, 9, 19}) {
      CAPTURE(type_name(t));
      CAPTURE(tokens);
      const std::vector<float> x = gaussian(rng, n * tokens);
      std::vector<float> ref(static_cast<size_t>(rows * tokens));
      gemm_float(t, n, w.bytes.data(), w.stride, rows, x.data(), n * sizeof(float), tokens, ref.data(), rows);
      QuantizedBatch q;
      q.resize(t, n, tokens);
      REQUIRE(q.float_gemm());
      CHECK((q.float_gemm_tokens() != nullptr) == (gemm_float_packed_floats(t, n, tokens) > 0));
      // Ranges in reverse order, as threads may finish them.
      for (int t1 = tokens; t1 > 0;) {
        const int t0 = (t1 - 1) / QuantizedBatch::kTokenAlign * QuantizedBatch::kTokenAlign;
        q.quantize(x.data(), t0, t1);
        t1 = t0;
      }
      std::vector<float> y(ref.size(), -1.0f);
      matmul_rows(m, q, y.data(), rows, 0, 24);
      matmul_rows(m, q, y.data(), rows, 24, rows);
      CHECK(std::memcmp(y.data(), ref.data(), y.size() * sizeof(float)) == 0);
    }
  }
}
