// PowerInfer's own model files (written by tests/reference/make_powerinfer_file.py with PyPI
// gguf in the layout of PowerInfer's convert-hf-to-powerinfer-gguf.py): the PWRI magic, the
// down projection stored transposed as ffn_down_t, predictor tensors inside the model and no
// activation key. They load and compute exactly what the plain file does.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/dense_engine.h"
#include "model/gguf_file.h"
#include "model/placement.h"
#include "model/powerinfer_predictors.h"
#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {


}  // namespace

TEST_CASE("PowerInfer model file (PWRI, ffn_down_t) = the plain llama file it came from") {
  for (const char* type : {"f32", "f16"}) {
    const std::string plain = testing::test_data_path(std::string("tiny_relu_") + type + ".gguf");
    const std::string pwri = testing::test_data_path(std::string("tiny_relu_") + type + "_powerinfer.gguf");
    INFO(type);
    const GgufFile f = GgufFile::open(pwri);
    CHECK(f.powerinfer());
    CHECK(f.find_tensor("blk.0.ffn_down_t.weight") != nullptr);
    CHECK(f.find_tensor("blk.0.ffn_down.weight") == nullptr);
    CHECK(f.find_tensor("blk.1.fc1.weight") != nullptr);
    CHECK_FALSE(GgufFile::open(plain).powerinfer());

    auto a = ModelWeights::load(plain);
    auto b = ModelWeights::load(pwri);
    // The plain file records relu in actinfer.ffn_activation; the PowerInfer file records nothing.
    CHECK(b->config().activation == Activation::ReLU);
    CHECK(b->config().activation_source == "PowerInfer file");
    const std::vector<int32_t> tokens = {1, 17, 200, 33, 91, 5, 250, 7};
    DenseEngine ea(a, {1, 64, 64, 0, true}), eb(b, {1, 64, 64, 0, true});
    ea.eval(tokens, true);
    eb.eval(tokens, true);
    double diff = 0;
    for (int p = 0; p < static_cast<int>(tokens.size()); ++p) {
      const auto x = ea.logits(p), y = eb.logits(p);
      for (size_t v = 0; v < x.size(); ++v) diff = std::max(diff, static_cast<double>(std::abs(x[v] - y[v])));
    }
    CHECK(diff == 0.0);  // the transpose is exact: same numbers, same order of operations
  }
}

TEST_CASE("PowerInfer GPU index file (PWRI, I32 gpu_idx as type 18) reads as a placement") {
  auto w = ModelWeights::load(testing::test_data_path("tiny_relu_f32.gguf"));
  const Placement p = load_placement(testing::test_data_path("tiny_relu_powerinfer_gpu_index.gguf"), w->config());
  REQUIRE(p.hot.size() == 3);
  for (int l = 0; l < 3; ++l) {
    REQUIRE(p.hot[static_cast<size_t>(l)].size() == 384);
    for (int i = 0; i < 384; ++i) CHECK(p.hot[static_cast<size_t>(l)][static_cast<size_t>(i)] == ((i * 7 + l) % 3 == 0 ? 1 : 0));
  }
  CHECK(p.n_hot() == 3 * 128);
  // Another model's shape is refused by name.
  auto other = ModelWeights::load(testing::test_data_path("tiny_gemma3_f32.gguf"));
  CHECK_THROWS_WITH(load_placement(testing::test_data_path("tiny_relu_powerinfer_gpu_index.gguf"), other->config()),
                    doctest::Contains("PowerInfer GPU index"));
}

TEST_CASE("PowerInfer predictors inside the model = its rule fc2 . ReLU(fc1 . x) >= 0 on the pre-norm residual") {
  auto w = ModelWeights::load(testing::test_data_path("tiny_relu_f32_powerinfer.gguf"));
  const auto predictors = predictors_in_model(*w);
  REQUIRE(predictors.has_value());
  CHECK(predictors->n_layers() == 3);
  CHECK(predictors->rank(0) == 32);  // make_powerinfer_file.py: ranks 24, 44, 64, padded to 32s
  CHECK(predictors->rank(1) == 64);
  CHECK(predictors->rank(2) == 64);
  CHECK_FALSE(predictors_in_model(*ModelWeights::load(testing::test_data_path("tiny_relu_f32.gguf"))).has_value());
  const ModelConfig& c = w->config();
  const GgufFile& f = w->file();
  std::vector<float> x(static_cast<size_t>(c.d_model)), xn(x.size());
  uint64_t state = 7;
  auto uniform = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((state >> 40) & 0xFFFF) / 65536.0f - 0.5f;
  };
  PredictorScratch scratch;
  int compared = 0, agreed = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    // PowerInfer's rule in float straight from the file's F16 tensors.
    const std::string p = "blk." + std::to_string(l) + ".";
    const TensorInfo& fc1 = *f.find_tensor(p + "fc1.weight");
    const TensorInfo& fc2 = *f.find_tensor(p + "fc2.weight");
    const int64_t rank = fc1.shape[1];
    std::vector<float> w1(static_cast<size_t>(rank * c.d_model)), w2(static_cast<size_t>(c.d_ff * rank));
    dequantize_row(fc1.type, f.tensor_data(fc1).data(), w1.data(), static_cast<int64_t>(w1.size()));
    dequantize_row(fc2.type, f.tensor_data(fc2).data(), w2.data(), static_cast<int64_t>(w2.size()));
    for (int trial = 0; trial < 8; ++trial) {
      for (float& v : x) v = 4.0f * uniform();
      rms_norm(x.data(), w->layers()[static_cast<size_t>(l)].ffn_norm.data(), xn.data(), c.d_model, c.norm_eps);
      std::vector<double> hidden(static_cast<size_t>(rank)), logit(static_cast<size_t>(c.d_ff));
      for (int64_t r = 0; r < rank; ++r) {
        double s = 0;
        for (int j = 0; j < c.d_model; ++j) s += static_cast<double>(w1[static_cast<size_t>(r * c.d_model + j)]) * x[static_cast<size_t>(j)];
        hidden[static_cast<size_t>(r)] = std::max(0.0, s);
      }
      double scale = 0;
      for (int n = 0; n < c.d_ff; ++n) {
        double s = 0;
        for (int64_t r = 0; r < rank; ++r) s += static_cast<double>(w2[static_cast<size_t>(n * rank + r)]) * hidden[static_cast<size_t>(r)];
        logit[static_cast<size_t>(n)] = s;
        scale = std::max(scale, std::abs(s));
      }
      std::vector<int32_t> active;
      predictors->predict(l, xn.data(), active, scratch);
      std::vector<uint8_t> ours(static_cast<size_t>(c.d_ff), 0);
      for (int32_t i : active) ours[static_cast<size_t>(i)] = 1;
      for (int n = 0; n < c.d_ff; ++n) {
        if (std::abs(logit[static_cast<size_t>(n)]) < 0.05 * scale) continue;  // Q8_0 rounding may flip near-ties
        ++compared;
        agreed += ours[static_cast<size_t>(n)] == (logit[static_cast<size_t>(n)] >= 0 ? 1 : 0);
      }
    }
  }
  INFO(agreed << " of " << compared << " clear decisions agree");
  CHECK(compared > 1000);
  CHECK(agreed == compared);
}
