// PowerInfer's own model files (written by tests/reference/make_powerinfer_file.py with PyPI
// gguf in the layout of PowerInfer's convert-hf-to-powerinfer-gguf.py): the PWRI magic, the
// down projection stored transposed as ffn_down_t, predictor tensors inside the model and no
// activation key. They load and compute exactly what the plain file does.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/dense_engine.h"
#include "model/gguf_file.h"

using namespace actinfer;

namespace {

const std::string kDir = ACTINFER_TEST_DATA_DIR;

}  // namespace

TEST_CASE("PowerInfer model file (PWRI, ffn_down_t) = the plain llama file it came from") {
  for (const char* type : {"f32", "f16"}) {
    const std::string plain = kDir + "/tiny_relu_" + type + ".gguf";
    const std::string pwri = kDir + "/tiny_relu_" + type + "_powerinfer.gguf";
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
