// The dense engine against the independent numpy reference (tests/reference/
// llama_ref.py): logits at every position within a stated tolerance, and the
// same greedy continuation. The ctest fixtures make the models and run numpy.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "reference_logits.h"

using namespace actinfer;

namespace {

struct Agreement {
  double max_abs = 0;      // largest |ours - reference| over all logits
  double ref_std = 0;      // spread of the reference logits
  int argmax_mismatch = 0;
};

int argmax(const float* x, int n) { return static_cast<int>(std::max_element(x, x + n) - x); }

// Teacher-forces the reference's token sequence through the engine and compares every position.
Agreement compare(const std::string& model, const std::string& ref_file, int threads, int batch, int layers = 0) {
  const auto ref = testing::read_reference_logits(ref_file);
  auto weights = ModelWeights::load(model);
  DenseEngine engine(weights, {threads, 512, batch, layers});
  REQUIRE(engine.config().n_vocab == ref.n_vocab);
  engine.eval(ref.tokens, true);
  Agreement a;
  double sum = 0, sum2 = 0;
  for (size_t p = 0; p < ref.tokens.size(); ++p) {
    const auto ours = engine.logits(static_cast<int>(p));
    const float* theirs = ref.row(p);
    for (int v = 0; v < ref.n_vocab; ++v) {
      a.max_abs = std::max(a.max_abs, std::abs(static_cast<double>(ours[v]) - theirs[v]));
      sum += theirs[v];
      sum2 += static_cast<double>(theirs[v]) * theirs[v];
    }
    if (argmax(ours.data(), ref.n_vocab) != argmax(theirs, ref.n_vocab)) ++a.argmax_mismatch;
  }
  const double n = static_cast<double>(ref.logits.size());
  a.ref_std = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  return a;
}

// Greedy generation from the reference's prompt must produce the reference's tokens.
void check_greedy(const std::string& model, const std::string& ref_file, int n_prompt) {
  const auto ref = testing::read_reference_logits(ref_file);
  auto weights = ModelWeights::load(model);
  DenseEngine engine(weights, {2, 512, 64});
  Sampler greedy({.temperature = 0.0f});
  std::vector<int32_t> out;
  const std::span<const int32_t> prompt(ref.tokens.data(), static_cast<size_t>(n_prompt));
  const int n_gen = static_cast<int>(ref.tokens.size()) - n_prompt;
  generate(engine, greedy, prompt, n_gen, {}, &out);
  const std::vector<int32_t> expected(ref.tokens.begin() + n_prompt, ref.tokens.end());
  CHECK(out == expected);
}

std::string data(const std::string& name) { return std::string(ACTINFER_TEST_DATA_DIR) + "/" + name; }
const std::string kRealModel = ACTINFER_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

}  // namespace

TEST_SUITE("reference") {
  TEST_CASE("dense engine = numpy reference: generated ReLU model, F32 weights") {
    for (int threads : {1, 2}) {
      for (int batch : {1, 7, 64}) {
        const Agreement a = compare(data("tiny_relu_f32.gguf"), data("tiny_relu_f32.ref"), threads, batch);
        INFO("threads " << threads << " batch " << batch << " max |diff| " << a.max_abs << " ref std " << a.ref_std);
        CHECK(a.max_abs < 1e-3 * std::max(1.0, a.ref_std));  // float32 vs float64 rounding only
        CHECK(a.argmax_mismatch == 0);
      }
    }
    check_greedy(data("tiny_relu_f32.gguf"), data("tiny_relu_f32.ref"), 6);
  }

  TEST_CASE("dense engine = numpy reference: generated ReLU model, F16 / Q8_0 / Q4_0 weights") {
    // Quantized weights are dequantized exactly by the reference; the engine also
    // quantizes activations (to Q8_0) as llama.cpp does, hence the looser bound.
    for (const char* type : {"f16", "q8_0", "q4_0"}) {
      const std::string model = data(std::string("tiny_relu_") + type + ".gguf");
      const Agreement a = compare(model, data(std::string("tiny_relu_") + type + ".ref"), 2, 64);
      INFO(type << ": max |diff| " << a.max_abs << " ref std " << a.ref_std << " argmax mismatches " << a.argmax_mismatch);
      CHECK(a.max_abs < 0.05 * a.ref_std);
      check_greedy(model, data(std::string("tiny_relu_") + type + ".ref"), 6);
    }
  }

  TEST_CASE("dense engine = numpy reference: SmolLM2-135M Q4_1, first 4 layers") {
    if (!std::filesystem::exists(kRealModel)) {
      MESSAGE("default model absent (run ./setup.sh): skipped");
      return;
    }
    const Agreement a = compare(kRealModel, data("smollm2_4layers.ref"), 2, 64, 4);
    INFO("max |diff| " << a.max_abs << " ref std " << a.ref_std);
    CHECK(a.max_abs < 0.05 * a.ref_std);
  }

  TEST_CASE("dense engine = numpy reference: SmolLM2-135M Q4_1, 32 greedy tokens") {
    if (!std::filesystem::exists(kRealModel)) {
      MESSAGE("default model absent (run ./setup.sh): skipped");
      return;
    }
    const Agreement a = compare(kRealModel, data("smollm2_greedy.ref"), 2, 64);
    INFO("max |diff| " << a.max_abs << " ref std " << a.ref_std << " argmax mismatches " << a.argmax_mismatch);
    CHECK(a.max_abs < 0.05 * a.ref_std);
    check_greedy(kRealModel, data("smollm2_greedy.ref"), 5);
  }
}
