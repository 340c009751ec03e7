// The lane-exact per-token kernels (gemm_lane_exact_rows, kernels/gemm_quant.h): every
// (row, token) result must carry the same bits as that token's lane of gemm_tiled, whatever the
// token count and the row count, and agree with the per-token dots (vec_dot_rows) up to float
// rounding.
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
#include "kernels/gemm_quant.h"
#include "kernels/ggml_type.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"
#include "kernels/vec_dot_avx2.h"
#include "tests/skip_report.h"
#include "tests/random_data.h"

using namespace actinfer;
using actinfer::testing::gaussian;
using actinfer::testing::set_extreme_codes;

namespace {

const GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,   GgmlType::Q5_1, GgmlType::Q8_0,
                           GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                           GgmlType::Q6_K, GgmlType::IQ4_XS};

// gemm_tiled's results for `tokens` activations: out[t * os + r].
std::vector<float> tiled(GgmlType t, int64_t n, const uint8_t* w, size_t rb, int64_t rows, const std::byte* acts,
                         size_t ab, int tokens, size_t os) {
  const int64_t n_tiles = (tokens + kGemmTileTokens - 1) / kGemmTileTokens;
  std::vector<std::byte> buf(gemm_tile_bytes(n) * static_cast<size_t>(n_tiles) + 32);
  std::byte* t0 = buf.data() + (32 - reinterpret_cast<uintptr_t>(buf.data()) % 32) % 32;
  for (int64_t i = 0; i < n_tiles; ++i)
    gemm_prepare_tile(t, acts + ab * static_cast<size_t>(i * kGemmTileTokens), ab,
                      static_cast<int>(std::min<int64_t>(kGemmTileTokens, tokens - i * kGemmTileTokens)), n,
                      t0 + gemm_tile_bytes(n) * static_cast<size_t>(i));
  std::vector<float> out(os * static_cast<size_t>(tokens), -7.0f);
  gemm_tiled(t, n, w, rb, rows, t0, tokens, out.data(), os);
  return out;
}

}  // namespace

TEST_CASE("gemm lane-exact rows: bit-identical to a lane of gemm_tiled, every covered type") {
  if (!has_lane_exact_rows(GgmlType::Q4_1)) {
    ACTINFER_REPORT_SKIPPED("no AVX2 kernels in this build: the lane-exact rows are not compiled");
    return;
  }
  std::mt19937 rng(2718);
  for (GgmlType t : kTypes) {
    REQUIRE(has_lane_exact_rows(t));
    const GgmlType at = activation_type_for(t);
    const int64_t block = type_row(t).block_elems;
    // The longest rows hold more blocks than the kernels keep on the stack (64); 800 has an odd
  // count (25 blocks: the one-token path pairs them).
    for (int64_t n : block == 256 ? std::vector<int64_t>{256, 768, 1536, 16640} : std::vector<int64_t>{256, 576, 800, 1536, 4096}) {
      const size_t rb = static_cast<size_t>(row_bytes(t, n));
      for (int64_t rows : {int64_t{37}, int64_t{8}, int64_t{16}}) {
        std::vector<float> wf = gaussian(rng, n * rows, 1.0f);
        std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) quantize_row(t, wf.data() + r * n, w.data() + rb * static_cast<size_t>(r), n);
        set_extreme_codes(t, w.data());
        set_extreme_codes(t, w.data() + rb * static_cast<size_t>(rows - 1));
        const size_t ab = static_cast<size_t>(row_bytes(at, n));
        constexpr int kMaxTokens = 11;  // 9: 8 tokens, then one alone
        std::vector<std::byte> acts(ab * kMaxTokens);
        for (int k = 0; k < kMaxTokens; ++k) {
          const auto x = gaussian(rng, n, std::pow(10.0f, static_cast<float>(k % 4 - 1)));
          quantize_activation(t, x.data(), acts.data() + ab * static_cast<size_t>(k), n);
        }
        const size_t os = static_cast<size_t>(rows) + 3;
        const std::vector<float> ref = tiled(t, n, w.data(), rb, rows, acts.data(), ab, kMaxTokens, os);
        // The per-token dots, and sum |w * a| for their tolerance.
        std::vector<std::vector<float>> one(kMaxTokens, std::vector<float>(static_cast<size_t>(rows)));
        std::vector<std::vector<double>> mag(kMaxTokens, std::vector<double>(static_cast<size_t>(rows)));
        std::vector<float> wv(static_cast<size_t>(n * rows)), av(static_cast<size_t>(n));
        for (int64_t r = 0; r < rows; ++r) dequantize_row(t, w.data() + rb * static_cast<size_t>(r), wv.data() + r * n, n);
        for (int k = 0; k < kMaxTokens; ++k) {
          const std::byte* a = acts.data() + ab * static_cast<size_t>(k);
          vec_dot_rows(t, n, w.data(), rb, rows, a, one[static_cast<size_t>(k)].data());
          dequantize_row(at, a, av.data(), n);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = 0; i < n; ++i)
              mag[static_cast<size_t>(k)][static_cast<size_t>(r)] += std::fabs(static_cast<double>(wv[static_cast<size_t>(r * n + i)]) * av[static_cast<size_t>(i)]);
        }
        for (int tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11}) {
          CAPTURE(type_name(t));
          CAPTURE(n);
          CAPTURE(rows);
          CAPTURE(tokens);
          // The last `tokens` activations, so that a token's lane in the tile differs from its
          // position here.
          const int first = kMaxTokens - tokens;
          std::vector<float> got(os * static_cast<size_t>(tokens), -7.0f);
          gemm_lane_exact_rows(t, n, w.data(), rb, rows, acts.data() + ab * static_cast<size_t>(first), ab, tokens,
                               got.data(), os);
          int differ = 0, far = 0;
          for (int k = 0; k < tokens; ++k) {
            for (size_t r = 0; r < os; ++r) {
              const float g = got[static_cast<size_t>(k) * os + r];
              if (r >= static_cast<size_t>(rows)) {  // past the rows: untouched
                differ += g != -7.0f;
                continue;
              }
              const float want = ref[static_cast<size_t>(first + k) * os + r];
              if (std::memcmp(&g, &want, sizeof g) != 0 && ++differ <= 3)
                MESSAGE("token " << k << " row " << r << ": " << g << " vs tiled " << want);
              const float p = one[static_cast<size_t>(first + k)][r];
              const double tol = 1e-5 * mag[static_cast<size_t>(first + k)][r] + 1e-30;
              if (!(std::fabs(static_cast<double>(g) - p) <= tol) && ++far <= 3)
                MESSAGE("token " << k << " row " << r << ": " << g << " vs per-token " << p);
            }
          }
          CHECK(differ == 0);
          CHECK(far == 0);
          // Rows split between two calls, as threads split them: the same bits.
          if (tokens == 3 || tokens == 8) {
            std::vector<float> split(got.size(), -7.0f);
            const int64_t mid = 5;
            const std::byte* a = acts.data() + ab * static_cast<size_t>(first);
            gemm_lane_exact_rows(t, n, w.data(), rb, mid, a, ab, tokens, split.data(), os);
            gemm_lane_exact_rows(t, n, w.data() + rb * static_cast<size_t>(mid), rb, rows - mid, a, ab, tokens, split.data() + mid, os);
            CHECK(std::memcmp(split.data(), got.data(), got.size() * sizeof(float)) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("gemm lane-exact rows: every tiled type has them") {
  for (GgmlType t : kTypes) {
    CAPTURE(type_name(t));
    CHECK(has_tiled_gemm(t) == (ACTINFER_HAVE_AVX2_KERNELS != 0));
    CHECK(has_lane_exact_rows(t) == has_tiled_gemm(t));
  }
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_1, GgmlType::Q8_K})
    CHECK_FALSE(has_lane_exact_rows(t));
}

TEST_CASE("gemm lane-exact rows: bad arguments are refused with a clear error") {
  alignas(64) std::byte buf[4096] = {};
  float out[64];
  CHECK_THROWS_WITH_AS(gemm_lane_exact_rows(GgmlType::F32, 32, buf, 128, 1, buf, 0, 1, out, 1),
                       doctest::Contains("no lane-exact kernel for F32"), std::invalid_argument);
  CHECK_FALSE(has_lane_exact_rows(GgmlType::F16));
  CHECK_FALSE(has_lane_exact_rows(GgmlType::Q8_1));
  if (!has_lane_exact_rows(GgmlType::Q4_1)) return;
  CHECK_THROWS_WITH_AS(gemm_lane_exact_rows(GgmlType::Q4_1, 48, buf, 20, 1, buf, 0, 1, out, 1),
                       doctest::Contains("not a whole number of blocks"), std::invalid_argument);
  CHECK_THROWS_AS(gemm_lane_exact_rows(GgmlType::Q4_1, 64, buf, 20, 1, buf, 0, 1, out, 1), std::invalid_argument);
  CHECK_THROWS_AS(gemm_lane_exact_rows(GgmlType::Q4_1, 64, buf, 40, 4, buf, 72, 2, out, 3), std::invalid_argument);
  CHECK_THROWS_WITH_AS(gemm_lane_exact_rows(GgmlType::Q4_1, 64, buf, 40, 4, buf, 36, 2, out, 4),
                       doctest::Contains("activation stride"), std::invalid_argument);
  CHECK_NOTHROW(gemm_lane_exact_rows(GgmlType::Q4_1, 64, buf, 40, 4, buf, 72, 2, out, 4));
  CHECK_NOTHROW(gemm_lane_exact_rows(GgmlType::Q4_1, 64, buf, 40, 0, buf, 72, 2, out, 4));
}
