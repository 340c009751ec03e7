// BatchKernels::kBatchInvariant (kernels/matmul.h), what the server's steps use: a token's
// results must be bit for bit the same whatever other tokens share its batch (alone, in a
// tile's lanes, in the remainder after the tiles, at any position), for every weight type.
// Agreement with the per-token kernels within float rounding guards against an invariant but
// wrong path; the kernels' own values are checked against PyPI gguf in test_gemm_quant.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/ggml_type.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"
#include "tests/random_data.h"

using namespace actinfer;
using actinfer::testing::gaussian;

namespace {

// y[t][r] of tokens [t0, t0 + B) of x, in one batch.
std::vector<float> batch_result(const WeightMatrix& w, const std::vector<float>& x, int t0, int B) {
  QuantizedBatch q;
  q.resize(w.type, w.cols, B, false, BatchKernels::kBatchInvariant);
  q.quantize(x.data() + static_cast<size_t>(t0) * static_cast<size_t>(w.cols), 0, B);
  std::vector<float> y(static_cast<size_t>(B) * static_cast<size_t>(w.rows));
  matmul_rows(w, q, y.data(), w.rows, 0, w.rows);
  return y;
}

}  // namespace

TEST_CASE("batch-invariant matmul: each token's results are the same alone and in any batch, every weight type") {
  std::mt19937 rng(77);
  constexpr int kTokens = 21;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* tt = find_type_traits(id);
    if (tt == nullptr || !tt->weight) continue;
    const auto type = static_cast<GgmlType>(id);
    CAPTURE(type_name(type));
    const int64_t cols = tt->block_elems == 256 ? 512 : 96, rows = 37;
    const auto rb = static_cast<size_t>(row_bytes(type, cols));
    std::vector<std::byte> data(rb * static_cast<size_t>(rows));
    const std::vector<float> wf = gaussian(rng, static_cast<size_t>(cols * rows));
    for (int64_t r = 0; r < rows; ++r) quantize_row(type, wf.data() + r * cols, data.data() + rb * static_cast<size_t>(r), cols);
    const WeightMatrix w{type, rows, cols, data.data(), rb};
    const std::vector<float> x = gaussian(rng, static_cast<size_t>(cols) * kTokens);

    // Each token alone.
    std::vector<std::vector<float>> alone;
    for (int t = 0; t < kTokens; ++t) alone.push_back(batch_result(w, x, t, 1));
    // Sanity: alone agrees with the per-token kernels up to float rounding.
    for (int t = 0; t < kTokens; ++t) {
      std::vector<std::byte> act(static_cast<size_t>(row_bytes(activation_type_for(type), cols)));
      quantize_activation(type, x.data() + static_cast<size_t>(t) * cols, act.data(), cols);
      std::vector<float> ref(static_cast<size_t>(rows));
      vec_dot_rows(type, cols, data.data(), rb, rows, act.data(), ref.data());
      for (int64_t r = 0; r < rows; ++r)
        REQUIRE(std::abs(alone[static_cast<size_t>(t)][static_cast<size_t>(r)] - ref[static_cast<size_t>(r)]) <=
                1e-4f * (1.0f + std::abs(ref[static_cast<size_t>(r)])));
    }
    // Batches of every size that changes the kernels' split (tiles of 8, a padded tile from 4
    // tokens, remainders), starting at different tokens.
    for (int B : {2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 16, 17, 20})
      for (int t0 : {0, kTokens - B}) {
        CAPTURE(B);
        CAPTURE(t0);
        const std::vector<float> y = batch_result(w, x, t0, B);
        for (int t = 0; t < B; ++t)
          REQUIRE(std::memcmp(y.data() + static_cast<size_t>(t) * rows, alone[static_cast<size_t>(t0 + t)].data(),
                              sizeof(float) * static_cast<size_t>(rows)) == 0);
      }
  }
}
