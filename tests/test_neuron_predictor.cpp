// Neuron predictors at inference (engine/neuron_predictor.h), the short-row Q8_0 kernel
// behind them (kernels/q8_0_short_rows.h) and their file (model/predictor_file.h):
// a hand-made predictor whose active set is worked out by hand, random predictors
// against a plain float computation with a derived Q8_0 error bound, the file round
// trip and every kind of bad file.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/neuron_predictor.h"
#include "engine/rng.h"
#include "kernels/dequantize.h"
#include "kernels/ggml_type.h"
#include "kernels/q8_0_short_rows.h"
#include "kernels/quantize.h"
#include "kernels/vec_dot.h"
#include "model/gguf_writer.h"
#include "model/predictor_file.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

// A predictor layer from float weights fc1[rank][d], fc2[d_ff][rank] (quantized here).
PredictorLayer make_layer(int d, int d_ff, int rank, const std::vector<float>& fc1, const std::vector<float>& fc2, std::vector<float> bias) {
  PredictorLayer p;
  p.d_model = d;
  p.d_ff = d_ff;
  p.rank = rank;
  const size_t rb1 = static_cast<size_t>(row_bytes(GgmlType::Q8_0, d)), rb2 = static_cast<size_t>(row_bytes(GgmlType::Q8_0, rank));
  p.fc1.resize(static_cast<size_t>(rank) * rb1);
  p.fc2.resize(static_cast<size_t>(d_ff) * rb2);
  for (int j = 0; j < rank; ++j) quantize_row(GgmlType::Q8_0, fc1.data() + j * d, p.fc1.data() + j * rb1, d);
  for (int i = 0; i < d_ff; ++i) quantize_row(GgmlType::Q8_0, fc2.data() + i * rank, p.fc2.data() + i * rb2, rank);
  p.bias = std::move(bias);
  return p;
}

ModelConfig model_config(int layers, int d, int d_ff, Activation act) {
  ModelConfig c;
  c.n_layers = layers;
  c.d_model = d;
  c.d_ff = d_ff;
  c.activation = act;
  return c;
}

// A random predictor of the model's shape (weights ~ N(0, 1/fan_in), rank 32).
NeuronPredictors random_predictors(const ModelConfig& c, uint64_t seed) {
  Rng rng(seed);
  std::vector<PredictorLayer> layers;
  std::vector<PredictorLayerInfo> info;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<float> fc1(static_cast<size_t>(32 * c.d_model)), fc2(static_cast<size_t>(c.d_ff * 32)), bias(static_cast<size_t>(c.d_ff));
    for (float& v : fc1) v = static_cast<float>(rng.normal() / std::sqrt(c.d_model));
    for (float& v : fc2) v = static_cast<float>(rng.normal() / std::sqrt(32.0));
    for (float& v : bias) v = static_cast<float>(rng.normal() * 0.1);
    layers.push_back(make_layer(c.d_model, c.d_ff, 32, fc1, fc2, bias));
    info.push_back({0.1f * static_cast<float>(l), 0.9f + 0.01f * static_cast<float>(l), 0.5f, 0.2f, 0.1f});
  }
  return NeuronPredictors(c, std::move(layers), std::move(info), 0.95);
}

}  // namespace

TEST_CASE("predict: a hand-made predictor's active set, worked out by hand") {
  // d_model 32, rank 32: fc1 is the identity, so hidden = ReLU(x) (x is rounded to Q8_0).
  constexpr int d = 32, r = 32, F = 6;
  std::vector<float> fc1(r * d, 0.0f), fc2(F * r, 0.0f);
  for (int j = 0; j < r; ++j) fc1[j * d + j] = 1.0f;
  auto w = [&](int neuron, int j, float v) { fc2[neuron * r + j] = v; };
  std::vector<float> x(d, 0.0f);
  x[0] = 3, x[1] = 1, x[2] = -2, x[3] = 0.5f;  // hidden = 3, 1, 0, 0.5, 0, ...
  w(0, 0, 1), w(0, 1, -1);              // 3 - 1 + 0        =  2    active
  w(1, 2, 1);                           // 0 - 0.25         = -0.25
  w(2, 1, 1), w(2, 3, 1);               // 1 + 0.5 - 2      = -0.5
  w(3, 0, -1);                          // -3 + 4           =  1    active
  w(4, 2, 1);                           // ReLU(-2) + 0.5   =  0.5  active (without the ReLU: -1.5)
  w(5, 0, 1), w(5, 1, 1), w(5, 3, 1);   // 3 + 1 + 0.5 - 4.4 =  0.1  active
  const std::vector<float> bias = {0, -0.25f, -2, 4, 0.5f, -4.4f};
  // Rounding: x's block scale is 3/127, so each x_k moves by at most 3/254 = 0.012; the
  // weights 1 and -1 are stored as +-127 * fp16(1/127) (relative error 6e-5); hidden
  // (max 3) is rounded again to within 0.012. A logit with three unit weights is thus
  // within ~0.08 of the hand value; every hand value is at least 0.1 from zero.
  const ModelConfig c = model_config(1, d, F, Activation::ReLU);
  const NeuronPredictors p(c, {make_layer(d, F, r, fc1, fc2, bias)}, {PredictorLayerInfo{}}, 0.95);
  PredictorScratch s;
  std::vector<int32_t> active;
  p.predict(0, x.data(), active, s);
  CHECK(active == std::vector<int32_t>{0, 3, 4, 5});
  std::vector<float> z(F);
  p.layer(0).logits(x.data(), z.data(), s);
  const float hand[F] = {2, -0.25f, -0.5f, 1, 0.5f, 0.1f};
  for (int i = 0; i < F; ++i) CHECK(std::fabs(z[static_cast<size_t>(i)] - hand[i]) <= 0.08f);
  CHECK(p.bytes() == static_cast<size_t>(r * 34 + F * 34 + F * 4));
  CHECK(p.rank(0) == 32);
  // x = 0 leaves only the biases: 0, 4 and 0.5 are >= 0 (a logit of exactly 0 counts as active).
  const std::vector<float> zero(d, 0.0f);
  p.predict(0, zero.data(), active, s);
  CHECK(active == std::vector<int32_t>{0, 3, 4});
}

TEST_CASE("predict agrees with a float computation within the Q8_0 rounding bound") {
  // Random weights; the reference uses the dequantized weights (the stored model) and the
  // float input. What predict adds is the rounding of x and of the hidden vector to Q8_0:
  // each element moves by at most half its block's scale, max|block| / 254 (x 1.001 for
  // the fp16 scale). Propagated through |fc1| and |fc2| that bounds each logit's error.
  constexpr int d = 96, r = 64, F = 77;  // 77 rows: nine groups of 8 and a tail of 5
  Rng rng(99);
  std::vector<float> fc1(r * d), fc2(F * r), bias(F);
  for (float& v : fc1) v = static_cast<float>(rng.normal() / std::sqrt(d));
  for (float& v : fc2) v = static_cast<float>(rng.normal() / std::sqrt(r));
  for (float& v : bias) v = static_cast<float>(rng.normal() * 0.3);
  const PredictorLayer layer = make_layer(d, F, r, fc1, fc2, bias);
  std::vector<float> w1(r * d), w2(F * r);  // what is stored
  for (int j = 0; j < r; ++j) dequantize_row(GgmlType::Q8_0, layer.fc1.data() + j * row_bytes(GgmlType::Q8_0, d), w1.data() + j * d, d);
  for (int i = 0; i < F; ++i) dequantize_row(GgmlType::Q8_0, layer.fc2.data() + i * row_bytes(GgmlType::Q8_0, r), w2.data() + i * r, r);
  auto block_error = [](const std::vector<double>& v, size_t k) {
    double m = 0;
    for (size_t i = k / 32 * 32; i < k / 32 * 32 + 32; ++i) m = std::max(m, std::fabs(v[i]));
    return m / 254 * 1.001;
  };
  PredictorScratch s;
  int checked = 0, decided = 0;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> x(d);
    std::vector<float> xf(d);
    for (int k = 0; k < d; ++k) xf[k] = static_cast<float>(x[k] = rng.normal() * (k % 7 == 0 ? 3.0 : 1.0));
    std::vector<double> h(r), eh(r);  // reference hidden and its error bound
    for (int j = 0; j < r; ++j) {
      double a = 0, e = 0;
      for (int k = 0; k < d; ++k) {
        a += w1[j * d + k] * x[k];
        e += std::fabs(w1[j * d + k]) * block_error(x, k);
      }
      h[j] = std::max(a, 0.0);
      eh[j] = e;
    }
    std::vector<double> h_hi(r);  // the largest the hidden can be, for its own rounding
    for (int j = 0; j < r; ++j) h_hi[j] = h[j] + eh[j];
    std::vector<float> z(F);
    layer.logits(xf.data(), z.data(), s);
    std::vector<int32_t> active;
    const NeuronPredictors p(model_config(1, d, F, Activation::ReLU), {layer}, {PredictorLayerInfo{}}, 0.95);
    p.predict(0, xf.data(), active, s);
    for (int i = 0; i < F; ++i) {
      double ref = bias[i], bound = 1e-4;
      for (int j = 0; j < r; ++j) {
        ref += w2[i * r + j] * h[j];
        bound += std::fabs(w2[i * r + j]) * (eh[j] + block_error(h_hi, j));
      }
      CHECK(std::fabs(z[i] - ref) <= bound);
      ++checked;
      if (std::fabs(ref) > bound) {
        ++decided;
        CHECK((ref >= 0) == std::binary_search(active.begin(), active.end(), i));
      }
    }
  }
  CHECK(checked == 50 * F);
  CHECK(decided > checked / 4);  // a worst-case bound, yet tight enough to decide many neurons
}

TEST_CASE("q8_0 short rows: each row equals the exact block sums of the dequantized values (any sign, and a ReLU output)") {
  for (int n : {32, 64, 96, 256})
  for (bool relu : {false, true}) {  // a non-negative activation takes the unsigned path
    constexpr int rows = 21;  // two groups of 8 and a tail of 5
    Rng rng(static_cast<uint64_t>(n));
    std::vector<float> w(static_cast<size_t>(rows * n)), x(static_cast<size_t>(n));
    for (float& v : w) v = static_cast<float>(rng.normal());
    for (float& v : x) v = relu ? std::max(0.0f, static_cast<float>(rng.normal())) : static_cast<float>(rng.normal());
    const size_t rb = static_cast<size_t>(row_bytes(GgmlType::Q8_0, n));
    std::vector<std::byte> wq(rows * rb), xq(rb);
    for (int r = 0; r < rows; ++r) quantize_row(GgmlType::Q8_0, w.data() + r * n, wq.data() + r * rb, n);
    quantize_activation(GgmlType::Q8_0, x.data(), xq.data(), n);
    std::vector<float> xd(static_cast<size_t>(n)), wd(static_cast<size_t>(n)), out(rows);
    dequantize_row(GgmlType::Q8_0, xq.data(), xd.data(), n);
    vec_dot_q8_0_short_rows(n, wq.data(), rb, rows, xq.data(), out.data());
    for (int r = 0; r < rows; ++r) {
      dequantize_row(GgmlType::Q8_0, wq.data() + r * rb, wd.data(), n);
      double ref = 0, mag = 0;
      for (int k = 0; k < n; ++k) {
        ref += static_cast<double>(wd[static_cast<size_t>(k)]) * xd[static_cast<size_t>(k)];
        mag += std::fabs(static_cast<double>(wd[static_cast<size_t>(k)]) * xd[static_cast<size_t>(k)]);
      }
      CHECK(std::fabs(out[static_cast<size_t>(r)] - ref) <= 1e-6 * mag);  // float rounding of the scale products only
    }
  }
  std::vector<std::byte> buf(64);
  float o = 0;
  CHECK_THROWS_AS(vec_dot_q8_0_short_rows(48, buf.data(), 34, 1, buf.data(), &o), std::invalid_argument);
}

TEST_CASE("predictor file: round trip keeps every byte and measurement") {
  const ModelConfig c = model_config(3, 64, 100, Activation::SiLU);
  const NeuronPredictors p = random_predictors(c, 1);
  const auto path = testing::test_data_path("predictor_roundtrip.gguf");
  p.save(path);
  const NeuronPredictors q = NeuronPredictors::load(path, c);
  REQUIRE(q.n_layers() == 3);
  CHECK(q.activation() == Activation::SiLU);
  CHECK(q.target_recall() == 0.95);
  CHECK(q.bytes() == p.bytes());
  CHECK(q.bytes() == 3 * predictor_layer_bytes(64, 100, 32));
  for (int l = 0; l < 3; ++l) {
    CHECK(q.layer(l).fc1 == p.layer(l).fc1);
    CHECK(q.layer(l).fc2 == p.layer(l).fc2);
    CHECK(q.layer(l).bias == p.layer(l).bias);
    CHECK(q.info(l).threshold == p.info(l).threshold);
    CHECK(q.info(l).recall == p.info(l).recall);
    CHECK(q.layer_bytes(l) == static_cast<size_t>(32 * 68 + 100 * 34 + 100 * 4));
  }
}

TEST_CASE("predictor file: bad files and other models are refused by name") {
  const ModelConfig c = model_config(2, 64, 100, Activation::ReLU);
  const auto good = testing::test_data_path("predictor_errors_good.gguf");
  random_predictors(c, 2).save(good);
  CHECK_NOTHROW(NeuronPredictors::load(good, c));

  CHECK_THROWS_WITH_AS(NeuronPredictors::load(testing::test_data_path("predictor_errors_missing.gguf"), c),
                       doctest::Contains("not found"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(NeuronPredictors::load(good, model_config(2, 64, 128, Activation::ReLU)),
                       doctest::Contains("2 layers, d_model 64, d_ff 100; this model has 2 layers, d_model 64, d_ff 128"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(NeuronPredictors::load(good, model_config(3, 64, 100, Activation::ReLU)), doctest::Contains("3 layers"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(NeuronPredictors::load(good, model_config(2, 64, 100, Activation::SiLU)),
                       doctest::Contains("trained for activation relu, this model uses silu"), std::invalid_argument);

  // Another GGUF (a model-like file): not a predictor file.
  const auto other = testing::test_data_path("predictor_errors_other.gguf");
  {
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_tensor_f32("x", {4}, std::vector<float>{1, 2, 3, 4});
    w.write(other);
  }
  CHECK_THROWS_WITH_AS(NeuronPredictors::load(other, c), doctest::Contains("not a predictor file"), std::invalid_argument);

  // Not a GGUF at all, and truncated copies of the good file.
  const auto text = testing::test_data_path("predictor_errors_text.gguf");
  std::ofstream(text) << "hello, not a model\n";
  CHECK_THROWS_WITH_AS(NeuronPredictors::load(text, c), doctest::Contains("not a readable predictor file"), std::invalid_argument);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // (The last tensor, 400 bytes of bias, ends 16 bytes of padding before the end.)
  for (size_t keep : {size_t{10}, size_t{200}, bytes.size() / 2, bytes.size() - 100}) {
    const auto cut = testing::test_data_path("predictor_errors_cut.gguf");
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
    CHECK_THROWS_WITH_AS(NeuronPredictors::load(cut, c), doctest::Contains("predictor file"), std::invalid_argument);
  }

  // A predictor file whose fc1 is not Q8_0.
  const auto wrong = testing::test_data_path("predictor_errors_type.gguf");
  {
    GgufWriter w;
    w.add_string("general.architecture", "actinfer-predictor");
    w.add_u32("actinfer.predictor.block_count", 1);
    w.add_u32("actinfer.predictor.embedding_length", 64);
    w.add_u32("actinfer.predictor.feed_forward_length", 100);
    w.add_string("actinfer.predictor.activation", "relu");
    for (const char* k : {"threshold", "recall", "precision", "predicted_active", "true_active"})
      w.add_f32_array(std::string("actinfer.predictor.") + k, std::vector<float>{0});
    w.add_tensor_f32("blk.0.fc1.weight", {64, 32}, std::vector<float>(64 * 32, 0.0f));
    w.write(wrong);
  }
  CHECK_THROWS_WITH_AS(NeuronPredictors::load(wrong, model_config(1, 64, 100, Activation::ReLU)),
                       doctest::Contains("'blk.0.fc1.weight' must be Q8_0"), std::invalid_argument);
}

TEST_CASE("NeuronPredictors refuses layers that do not fit the model") {
  const ModelConfig c = model_config(1, 64, 100, Activation::ReLU);
  NeuronPredictors p = random_predictors(c, 3);
  PredictorLayer bad = p.layer(0);
  bad.bias.pop_back();
  CHECK_THROWS_WITH_AS(NeuronPredictors(c, {bad}, {PredictorLayerInfo{}}, 0.9), doctest::Contains("bias has 99 values"), std::invalid_argument);
  CHECK_THROWS_AS(NeuronPredictors(model_config(2, 64, 100, Activation::ReLU), {p.layer(0)}, {PredictorLayerInfo{}}, 0.9),
                  std::invalid_argument);
}

TEST_CASE("predict on a thread pool gives the single-thread active sets") {
  const ModelConfig c = model_config(2, 64, 100, Activation::ReLU);
  const NeuronPredictors p = random_predictors(c, 7);
  Rng rng(3);
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    PredictorScratch s1, s2;
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> xn(64);
      for (float& v : xn) v = static_cast<float>(rng.normal());
      std::vector<int32_t> one, many;
      p.predict(trial % 2, xn.data(), one, s1);
      p.predict(pool, trial % 2, xn.data(), many, s2);
      CHECK(one == many);
      CHECK(!one.empty());
    }
  }
}
