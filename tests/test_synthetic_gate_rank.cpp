// make-model --gate-rank (model/synthetic_model.h): the token part of ffn_gate (every
// column but the bias channel's) spans exactly R dimensions, a truth a rank >= 2R + 1
// predictor can represent; the default keeps full-rank gate rows.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/layer_ops.h"
#include "kernels/dequantize.h"
#include "model/gguf_file.h"
#include "model/model_weights.h"
#include "model/synthetic_model.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

// Rank of the rows (columns 1..) by Gram-Schmidt in double: a row counts when what is
// left of it after removing the span of the earlier ones is above 1e-4 of its norm.
int token_part_rank(const WeightMatrix& g) {
  std::vector<std::vector<double>> basis;
  std::vector<float> row(static_cast<size_t>(g.cols));
  for (int64_t r = 0; r < g.rows; ++r) {
    dequantize_row(g.type, g.row(r), row.data(), g.cols);
    std::vector<double> v(row.begin() + 1, row.end());
    double n0 = 0;
    for (double x : v) n0 += x * x;
    for (const auto& b : basis) {
      double dot = 0;
      for (size_t k = 0; k < v.size(); ++k) dot += v[k] * b[k];
      for (size_t k = 0; k < v.size(); ++k) v[k] -= dot * b[k];
    }
    double n = 0;
    for (double x : v) n += x * x;
    if (n > 1e-8 * n0) {
      for (double& x : v) x /= std::sqrt(n);
      basis.push_back(std::move(v));
    }
  }
  return static_cast<int>(basis.size());
}

SyntheticModelConfig small(int gate_rank) {
  SyntheticModelConfig c;
  c.n_layers = 2;
  c.dim = 64;
  c.ffn = 96;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab = 300;
  c.gate_rank = gate_rank;
  c.seed = 4;
  return c;
}

}  // namespace

TEST_CASE("make-model --gate-rank: gate rows span exactly R directions besides the bias channel") {
  const auto path = testing::test_data_path("gate_rank_3.gguf");
  write_synthetic_model(small(3), path);
  const auto w = ModelWeights::load(path);
  for (int l = 0; l < 2; ++l) CHECK(token_part_rank(FfnWeights::of_layer(*w, l).gate) == 3);
  CHECK(token_part_rank(FfnWeights::of_layer(*w, 0).up) == 63);  // other matrices unchanged
  CHECK(GgufFile::open(path).get_int("actinfer.synthetic.gate_rank") == 3);

  const auto full = testing::test_data_path("gate_rank_0.gguf");
  write_synthetic_model(small(0), full);
  const auto wf = ModelWeights::load(full);
  CHECK(token_part_rank(FfnWeights::of_layer(*wf, 0).gate) == 63);  // 96 rows in 63 dimensions
  CHECK_FALSE(GgufFile::open(full).has("actinfer.synthetic.gate_rank"));

  CHECK_THROWS_WITH_AS(validate(small(64)), doctest::Contains("--gate-rank must be in [0, --dim)"), std::invalid_argument);
}
