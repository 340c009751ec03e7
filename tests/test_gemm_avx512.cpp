// The AVX-512 VNNI tiled GEMM (kernels/gemm_quant_avx512.cpp) against the AVX2 one
// (gemm_quant_avx2.cpp, itself checked against PyPI gguf in test_gemm_quant.cpp): both must
// give bit-identical floats for every (row, token), since they compute the same exact integer
// dots and apply them with the same float operations in the same order.
#include <doctest/doctest.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm_quant.h"
#include "kernels/ggml_type.h"
#include "kernels/quantize.h"
#include "kernels/type_kernels.h"
#include "kernels/vec_dot.h"
#include "tests/skip_report.h"

using namespace actinfer;

#if ACTINFER_HAVE_AVX512_GEMM
namespace {

using GemmFn = void (*)(int64_t, const void*, size_t, int64_t, const void*, int64_t, float*, size_t);

struct Pair {
  GgmlType type;
  GemmFn avx512, avx2;
};

}  // namespace

TEST_CASE("gemm avx512: bit-identical to the AVX2 kernel, tails of tokens and rows, extreme codes") {
  namespace k = kernels;
  const Pair pairs[] = {
      {GgmlType::Q4_0, k::gemm_q4_0_avx512, k::gemm_q4_0_avx2}, {GgmlType::Q4_1, k::gemm_q4_1_avx512, k::gemm_q4_1_avx2},
      {GgmlType::Q5_0, k::gemm_q5_0_avx512, k::gemm_q5_0_avx2}, {GgmlType::Q5_1, k::gemm_q5_1_avx512, k::gemm_q5_1_avx2},
      {GgmlType::Q8_0, k::gemm_q8_0_avx512, k::gemm_q8_0_avx2}, {GgmlType::IQ4_NL, k::gemm_iq4_nl_avx512, k::gemm_iq4_nl_avx2},
      {GgmlType::Q4_K, k::gemm_q4_K_avx512, k::gemm_q4_K_avx2}, {GgmlType::Q5_K, k::gemm_q5_K_avx512, k::gemm_q5_K_avx2},
      {GgmlType::Q6_K, k::gemm_q6_K_avx512, k::gemm_q6_K_avx2}, {GgmlType::Q2_K, k::gemm_q2_K_avx512, k::gemm_q2_K_avx2},
      {GgmlType::Q3_K, k::gemm_q3_K_avx512, k::gemm_q3_K_avx2}, {GgmlType::IQ4_XS, k::gemm_iq4_xs_avx512, k::gemm_iq4_xs_avx2},
  };
  std::mt19937 rng(512);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  auto gaussian = [&](int64_t n, float scale) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = scale * gauss(rng);
    return v;
  };
  for (const Pair& p : pairs) {
    const GgmlType t = p.type;
    // The type table must hand out the AVX-512 kernel in this build.
    const bool table_uses_avx512 = type_row(t).gemm == p.avx512;
    CHECK(table_uses_avx512);
    const bool k_type = type_row(t).block_elems == 256;
    // Small shapes: 11 rows (2 register tiles of 4 rows and a tail of 3); one large one: 150 rows
    // (3 bands of staged results, the last partial) and 100 tokens (at 8192 elements, several
    // chunks of tiles in both kernels).
    struct Shape {
      int64_t n, rows;
      std::vector<int> tokens;
    };
    const std::vector<int> few = {1, 2, 3, 5, 7, 8, 13, 16, 24, 33, 40, 64, 75};
    const std::vector<Shape> shapes = k_type ? std::vector<Shape>{{256, 11, few}, {768, 11, few}, {2048, 11, few}, {8192, 150, {100}}}
                                             : std::vector<Shape>{{32, 11, few}, {96, 11, few}, {2048, 11, few}, {8192, 150, {100}}};
    for (const Shape& shape : shapes) {
      const int64_t n = shape.n, rows = shape.rows;
      const size_t rb = static_cast<size_t>(row_bytes(t, n));
      std::vector<float> wf = gaussian(n * rows, 1.0f);
      std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) quantize_row(t, wf.data() + r * n, w.data() + rb * static_cast<size_t>(r), n);
      if (t == GgmlType::Q8_0) w[2] = 0x80;    // -128, which no quantizer writes
      if (t == GgmlType::Q6_K) w[192] = 0x80;  // a -128 sub-block scale
      if (t == GgmlType::Q2_K) w[0] = w[15] = 0xFF;          // scale and min 15
      if (t == GgmlType::Q3_K) std::memset(w.data() + 96, 0, 12);  // scales -32
      if (t == GgmlType::IQ4_XS) std::memset(w.data() + 2, 0, 6);  // scales -32
      for (int tokens : shape.tokens) {
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(tokens);
        const GgmlType at = activation_type_for(t);
        const size_t ab = static_cast<size_t>(row_bytes(at, n));
        std::vector<std::byte> acts(ab * static_cast<size_t>(tokens));
        for (int i = 0; i < tokens; ++i) {
          const auto x = gaussian(n, 3.0f);
          quantize_activation(t, x.data(), acts.data() + ab * static_cast<size_t>(i), n);
        }
        // Extreme activations too: all +-127 in one token (Q8_K's block sums then disagree
        // with its quants, but both kernels read the quants alone).
        const int64_t ae = type_row(at).block_elems;
        for (int64_t b = 0; b < n / ae && tokens > 2; ++b) {
          auto* q = reinterpret_cast<int8_t*>(acts.data() + ab + static_cast<size_t>(b) * static_cast<size_t>(row_bytes(at, ae)) +
                                              (at == GgmlType::Q8_0 ? 2 : 4));
          for (int i = 0; i < ae; ++i) q[i] = static_cast<int8_t>(i % 3 == 0 ? -127 : 127);
        }
        const int64_t n_tiles = (tokens + kGemmTileTokens - 1) / kGemmTileTokens;
        std::vector<std::byte> tiles(gemm_tile_bytes(n) * static_cast<size_t>(n_tiles) + 32);
        std::byte* t0 = tiles.data() + (32 - reinterpret_cast<uintptr_t>(tiles.data()) % 32) % 32;
        for (int64_t i = 0; i < n_tiles; ++i)
          gemm_prepare_tile(t, acts.data() + ab * static_cast<size_t>(i * kGemmTileTokens), ab,
                            static_cast<int>(std::min<int64_t>(kGemmTileTokens, tokens - i * kGemmTileTokens)), n,
                            t0 + gemm_tile_bytes(n) * static_cast<size_t>(i));
        const size_t os = rows + 3;
        std::vector<float> a(os * static_cast<size_t>(tokens), -7.0f), b(a);
        p.avx512(n, w.data(), rb, rows, t0, tokens, a.data() + 1, os);
        p.avx2(n, w.data(), rb, rows, t0, tokens, b.data() + 1, os);
        int differ = 0;
        for (size_t i = 0; i < a.size(); ++i)
          if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && ++differ <= 3)
            MESSAGE("token " << i / os << " column " << i % os << ": avx512 " << a[i] << " avx2 " << b[i]);
        CHECK(differ == 0);
        CHECK(a[0] == -7.0f);  // the stride's padding is not written
        CHECK(a[os - 1] == -7.0f);
      }
    }
  }
}
#else
TEST_CASE("gemm avx512: bit-identical to the AVX2 kernel") {
  ACTINFER_REPORT_SKIPPED("no AVX-512 VNNI in this build: the AVX-512 tiled GEMM is not compiled");
}
#endif
