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

using namespace actinfer;

namespace {

const std::string kDir = ACTINFER_TEST_DATA_DIR;

// A profile whose thresholds are all `t` (the counts do not matter here).
std::string threshold_profile(const ModelConfig& c, float t) {
  ActivationProfile p;
  p.n_tokens = 1;
  p.activation = c.activation;
  p.target_sparsity = 0.5;
  p.thresholds.assign(static_cast<size_t>(c.n_layers), t);
  p.fired.assign(static_cast<size_t>(c.n_layers), std::vector<uint32_t>(static_cast<size_t>(c.d_ff), 0));
  const std::string path = kDir + "/sparse_reference_threshold_profile.gguf";
  write_profile(path, c, p);
  return path;
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
  const auto ref = testing::read_reference_logits(kDir + "/tiny_silu_threshold.ref");
  auto w = ModelWeights::load(kDir + "/tiny_silu_f32.gguf");
  REQUIRE(w->config().activation == Activation::SiLU);
  const std::string profile = threshold_profile(w->config(), 0.12f);
  for (int batch : {1, 8}) {
    for (double hot : {0.0, 0.5}) {
      DeploymentConfig o;
      o.engine = {1, 256, batch, 0, false};
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
