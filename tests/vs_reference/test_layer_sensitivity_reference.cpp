// The per-layer sensitivity sweep (engine/layer_sensitivity.h) against the numpy
// reference: tests/reference/perplexity_ref.py scores the generated F32 SiLU model
// dense and with one layer at a time thresholded (--ffn-thresholds, numpy over
// llama_ref.py's forward pass, float64), reporting the mean NLL and the mean
// KL(dense || thresholded). Our sweep must give the same NLL rise and KL for each
// layer. Also the CLI's sensitivity-allocated profile (written by the ctest
// fixture cli_profile_allocate_sensitivity).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "engine/layer_sensitivity.h"
#include "model/model_weights.h"
#include "model/profile_file.h"
#include "reference_perplexity.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

}  // namespace

TEST_CASE("layer sensitivity sweep = numpy reference: NLL rise and KL with one layer thresholded") {
  auto w = ModelWeights::load(testing::test_data_path("tiny_silu_f32.gguf"));
  REQUIRE(w->config().n_layers == 3);
  const auto dense_ref = testing::read_reference_perplexity(testing::test_data_path("tiny_silu_sensitivity_dense.ref"));
  // The thresholds the fixtures give numpy, one layer at a time (CMakeLists.txt).
  const std::vector<float> thr{0.12f, 0.08f, 0.2f};
  // Each layer tried at its threshold, then dense (-1: must cost nothing).
  std::vector<std::vector<float>> tries;
  for (float t : thr) tries.push_back({t, -1.0f});
  SensitivityOptions o;
  o.n_ctx = dense_ref.ctx;
  o.n_threads = 2;
  o.max_batch = 5;  // several batches per chunk: their attention reads the cache the earlier ones wrote
  o.add_bos = dense_ref.bos >= 0;
  o.bos = dense_ref.bos;
  int64_t last_done = 0, last_total = 0;
  const LayerSensitivity r = measure_layer_sensitivity(*w, dense_ref.tokens, tries, o, [&](int64_t done, int64_t total) {
    CHECK(done > last_done);
    last_done = done;
    last_total = total;
  });
  CHECK(last_done == last_total);
  REQUIRE(dense_ref.tokens.size() % static_cast<size_t>(dense_ref.ctx) != 0);  // a remainder that must not be scored
  CHECK(r.n_chunks == static_cast<int>(dense_ref.tokens.size()) / dense_ref.ctx);
  CHECK(r.n_scored == dense_ref.n_scored);
  CHECK(std::fabs(r.dense_nll - dense_ref.nll_mean) < 1e-4);
  REQUIRE(r.delta_nll.size() == 3);
  REQUIRE(r.kl.size() == 3);
  for (int l = 0; l < 3; ++l) {
    const auto ref = testing::read_reference_perplexity(testing::test_data_path("tiny_silu_sensitivity_layer" + std::to_string(l) + ".ref"));
    const double ref_delta = ref.nll_mean - dense_ref.nll_mean;
    INFO("layer " << l << ": NLL rise ours " << r.delta_nll[l][0] << " numpy " << ref_delta << "; KL ours " << r.kl[l][0] << " numpy "
                  << ref.kl_mean);
    CHECK(ref.tokens == dense_ref.tokens);
    REQUIRE(ref.kl_mean >= 0);
    CHECK(ref.kl_mean > 1e-3);             // the threshold really changes the model (so the checks can fail)
    CHECK(std::fabs(ref_delta) > 1e-3);
    CHECK(std::fabs(r.delta_nll[l][0] - ref_delta) < 2e-4);
    CHECK(std::fabs(r.kl[l][0] - ref.kl_mean) < 2e-4 + 0.01 * ref.kl_mean);
    // Dense "threshold": nothing changes.
    CHECK(std::fabs(r.delta_nll[l][1]) < 1e-5);
    CHECK(std::fabs(r.kl[l][1]) < 1e-6);
  }
  // Which layer costs most is the reference's answer too (by KL).
  auto argmax = [](const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
  std::vector<double> ours, numpy;
  for (int l = 0; l < 3; ++l) {
    ours.push_back(r.kl[l][0]);
    numpy.push_back(testing::read_reference_perplexity(testing::test_data_path("tiny_silu_sensitivity_layer" + std::to_string(l) + ".ref")).kl_mean);
  }
  CHECK(argmax(ours) == argmax(numpy));
}

TEST_CASE("layer sensitivity sweep: bad input is refused with the reason") {
  auto w = ModelWeights::load(testing::test_data_path("tiny_silu_f32.gguf"));
  const std::vector<int32_t> tokens(40, 7);
  SensitivityOptions o;
  o.n_ctx = 32;
  o.n_threads = 1;
  const std::vector<std::vector<float>> tries(3, std::vector<float>{0.1f});
  CHECK_THROWS_WITH_AS(measure_layer_sensitivity(*w, tokens, {{0.1f}}, o), doctest::Contains("1 threshold lists for 3 layers"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(measure_layer_sensitivity(*w, std::vector<int32_t>(20, 7), tries, o), doctest::Contains("fewer than one chunk of 32"),
                       std::invalid_argument);
  o.n_ctx = 2;
  CHECK_THROWS_WITH_AS(measure_layer_sensitivity(*w, tokens, tries, o), doctest::Contains("need at least 3"), std::invalid_argument);
  o.n_ctx = 32;
  CHECK_THROWS_AS(measure_layer_sensitivity(*w, std::vector<int32_t>(40, 99999), tries, o), std::out_of_range);
  auto relu = ModelWeights::load(testing::test_data_path("tiny_relu_f32.gguf"));
  CHECK_THROWS_WITH_AS(measure_layer_sensitivity(*relu, tokens, tries, o), doctest::Contains("ReLU model is not thresholded"),
                       std::invalid_argument);
}

TEST_CASE("profile --allocate sensitivity (CLI): mean sparsity on target, levels differ between layers") {
  auto w = ModelWeights::load(testing::test_data_path("tiny_silu_f32.gguf"));
  const ModelConfig& c = w->config();
  const ActivationProfile p = load_profile(testing::test_data_path("cli_profile_allocated.gguf"), c);
  CHECK(p.allocation == SparsityAllocation::Sensitivity);
  CHECK(p.target_sparsity == doctest::Approx(0.5));
  REQUIRE(p.layer_targets.size() == static_cast<size_t>(c.n_layers));
  const double mean_level = std::accumulate(p.layer_targets.begin(), p.layer_targets.end(), 0.0) / c.n_layers;
  CHECK(mean_level == doctest::Approx(0.5).epsilon(1e-6));
  CHECK(std::any_of(p.layer_targets.begin(), p.layer_targets.end(), [&](double s) { return std::fabs(s - p.layer_targets[0]) > 0.005; }));
  // The counting pass measures what the thresholds do: each layer at its level, the mean at the target.
  CHECK(std::fabs(p.mean_sparsity() - 0.5) < 0.01);
  for (int l = 0; l < c.n_layers; ++l) {
    INFO("layer " << l << " level " << p.layer_targets[l] << " threshold " << p.thresholds[l] << " measured " << p.layer_sparsity(l));
    CHECK(std::fabs(p.layer_sparsity(l) - p.layer_targets[l]) < 0.01);
  }
}
