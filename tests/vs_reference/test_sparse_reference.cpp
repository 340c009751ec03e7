// Thresholded sparsity (SwiGLU models) in the actor runtime with sparse kernels,
// against the numpy reference with the same rule: neurons whose output
// |silu(gate . x) * (up . x)| <= 0.12 (about half of them) are dropped
// (tests/reference/llama_ref.py --ffn-threshold). The model is F32, so the sparse
// kernels see float inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "model/profile_file.h"
#include "reference_logits.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {


// A profile with these per-layer thresholds (the counts do not matter here). Its name carries the
// shape: ctest runs this file's cases as separate processes side by side.
std::string threshold_profile(const ModelConfig& c, const std::vector<float>& thresholds) {
  ActivationProfile p;
  p.n_tokens = 1;
  p.activation = c.activation;
  p.target_sparsity = 0.5;
  p.thresholds = thresholds;
  p.fired.assign(static_cast<size_t>(c.n_layers), std::vector<uint32_t>(static_cast<size_t>(c.d_ff), 0));
  const std::string path = testing::test_data_path("sparse_reference_threshold_profile_" + std::to_string(c.n_layers) + "x" +
                                                    std::to_string(c.d_ff) + ".gguf");
  write_profile(path, c, p);
  return path;
}

// A profile whose thresholds are all `t`.
std::string threshold_profile(const ModelConfig& c, float t) {
  return threshold_profile(c, std::vector<float>(static_cast<size_t>(c.n_layers), t));
}

double max_abs_diff(Evaluator& e, const testing::ReferenceLogits& ref) {
  e.eval(ref.tokens, true);
  double diff = 0;
  for (size_t p = 0; p < ref.tokens.size(); ++p) {
    const auto ours = e.logits(static_cast<int>(p));
    for (int v = 0; v < ref.n_vocab; ++v) diff = std::max(diff, std::abs(static_cast<double>(ours[v]) - ref.row(p)[v]));
  }
  return diff;
}

}  // namespace

TEST_CASE("sparse runtime, threshold predictor = numpy reference with dropped activations") {
  const auto ref = testing::read_reference_logits(testing::test_data_path("tiny_silu_threshold.ref"));
  auto w = ModelWeights::load(testing::test_data_path("tiny_silu_f32.gguf"));
  REQUIRE(w->config().activation == Activation::SiLU);
  const std::string profile = threshold_profile(w->config(), 0.12f);
  for (int batch : {1, 8}) {
    for (double hot : {0.0, 0.5}) {
      DeploymentConfig o;
      o.engine = {1, 256, batch, 0, false, KvCacheType::F32};  // as the reference keeps K, V
      o.hot_fraction = hot;
      o.teams.assign(1, TeamConfig{0, {}, 2});
      o.sparse = true;
      o.profile = profile;  // predictor auto -> threshold for a SiLU model with a profile
      ActorRuntime rt(w, o);
      CHECK(rt.predictor_mode() == PredictorMode::threshold);
      const double diff = max_abs_diff(rt, ref);
      const auto stats = rt.predictor_stats();
      INFO("batch " << batch << " hot " << hot << ": max |diff| " << diff << ", computed " << stats.fraction_computed());
      CHECK(diff < 1e-4);  // observed ~3e-6: float summation order
      // The rule really drops activations: not every neuron is computed, and not none.
      CHECK(stats.fraction_computed() < 0.7);
      CHECK(stats.fraction_computed() > 0.3);
    }
  }
  // Without the threshold the runtime is far from this reference (the test can fail).
  DenseEngine dense(w, {1, 256, 8});
  CHECK(max_abs_diff(dense, ref) > 1e-2);
}

// GeGLU (gemma3): the same rule on |gelu_tanh(gate . x) * (up . x)|, per-layer thresholds that
// drop about half the neurons of each layer, through a model with every gemma3 step (sliding
// window shorter than the sequence, q/k and post norms: the post-FFN norm sees only the
// computed neurons' sum, hot share on the gpu-worker and cold on a team added first).
TEST_CASE("sparse runtime on gemma3 (GeGLU), threshold predictor = numpy reference with dropped activations") {
  const auto ref = testing::read_reference_logits(testing::test_data_path("tiny_gemma3_threshold.ref"));
  auto w = ModelWeights::load(testing::test_data_path("tiny_gemma3_f32.gguf"));
  REQUIRE(w->config().arch == "gemma3");
  REQUIRE(w->config().activation == Activation::GELU);
  const std::string profile = threshold_profile(w->config(), {0.039f, 0.029f, 0.022f, 0.017f, 0.0125f, 0.0097f, 0.0071f});
  for (int batch : {1, 8}) {
    for (double hot : {0.0, 0.5}) {
      DeploymentConfig o;
      o.engine = {1, 256, batch, 0, false, KvCacheType::F32};  // as the reference keeps K, V
      o.hot_fraction = hot;
      o.teams.assign(1, TeamConfig{0, {}, 2});
      o.sparse = true;
      o.profile = profile;
      ActorRuntime rt(w, o);
      CHECK(rt.predictor_mode() == PredictorMode::threshold);
      const double diff = max_abs_diff(rt, ref);
      const auto stats = rt.predictor_stats();
      INFO("batch " << batch << " hot " << hot << ": max |diff| " << diff << ", computed " << stats.fraction_computed());
      CHECK(diff < 1e-4);
      CHECK(stats.fraction_computed() < 0.7);
      CHECK(stats.fraction_computed() > 0.3);
    }
  }
  // Without the threshold the runtime is far from this reference (the test can fail).
  DenseEngine dense(w, {1, 256, 8});
  CHECK(max_abs_diff(dense, ref) > 1e-2);
}
