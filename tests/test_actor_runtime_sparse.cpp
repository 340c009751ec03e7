// The actor runtime with sparse kernels (neuron bundles, per-token active lists)
// reproduces the dense engine on ReLU models with the oracle predictor: a ReLU
// neuron that does not fire contributes exactly zero, so skipping it is exact.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "engine/neuron_bundles.h"
#include "model/placement.h"
#include "model/synthetic_model.h"
#include "tests/runtime_comparison.h"

using namespace actinfer;

namespace {

std::filesystem::path sparse_model(const std::string& name, GgmlType type) {
  return testing::small_relu_model("sparse_rt_" + name, type, 9);
}

const std::vector<int32_t> kSparseTokens = {3, 77, 120, 5, 9, 250, 31, 64, 2, 199, 17, 42};

DeploymentConfig sparse_options(double hot, int teams, int batch, PredictorMode predictor = PredictorMode::oracle) {
  DeploymentConfig o;
  o.engine = {1, 256, batch, 0, false};
  o.hot_fraction = hot;
  o.teams.assign(static_cast<size_t>(teams), TeamConfig{0, {}, 2});
  o.predictor = predictor;
  o.sparse = true;
  return o;
}

}  // namespace

TEST_CASE("sparse runtime = dense engine: oracle on F32, splits 0/30/100% hot, 1-2 teams, decode and batches") {
  auto w = ModelWeights::load(sparse_model("f32", GgmlType::F32));
  for (int batch : {1, 5}) {
    for (double hot : {0.0, 0.3, 1.0}) {
      for (int teams : {1, 2}) {
        DenseEngine dense(w, {1, 256, 4});
        ActorRuntime rt(w, sparse_options(hot, teams, batch));
        const double rel = testing::relative_difference(rt, dense, kSparseTokens);
        const auto stats = rt.predictor_stats();
        INFO("batch " << batch << " hot " << hot << " teams " << teams << ": rel " << rel << ", computed "
                      << stats.fraction_computed());
        CHECK(rel < 1e-5);  // F32 bundles are exact copies: float summation order only
        // The oracle predicts nothing: every neuron goes to the kernels, whose gate pass
        // is the oracle (generated ReLU models fire ~10% of their neurons).
        CHECK(stats.fraction_computed() == doctest::Approx(1.0));
        CHECK(stats.token_layers == static_cast<int64_t>(kSparseTokens.size()) * 3);
        if (batch == 1) {  // every gate row, and up and down only of the neurons that fire
          const FfnWeights f = FfnWeights::of_layer(*w, 0);
          const NeuronBundles bundles(f);
          const auto per_token_layer = static_cast<double>(stats.token_layers) * static_cast<double>(f.n_neurons());
          const double gates = per_token_layer * static_cast<double>(bundles.gate_up_row_bytes());
          const double records = per_token_layer * static_cast<double>(bundles.used_record_bytes());
          INFO("read " << stats.ffn_weight_bytes << " bytes; gate rows alone " << gates << ", all records " << records);
          CHECK(static_cast<double>(stats.ffn_weight_bytes) > gates);
          CHECK(static_cast<double>(stats.ffn_weight_bytes) < gates + 0.3 * (records - gates));
        }
      }
    }
  }
}

TEST_CASE("sparse runtime = dense engine: Q4_0 weights (down re-stored as Q8_0 columns)") {
  auto w = ModelWeights::load(sparse_model("q4_0", GgmlType::Q4_0));
  DenseEngine dense(w, {1, 256, 4});
  ActorRuntime rt(w, sparse_options(0.3, 2, 1));
  const double rel = testing::relative_difference(rt, dense, kSparseTokens);
  INFO("rel " << rel);
  // The dense path rounds the hidden state to Q8_0 before the down projection, the
  // sparse path rounds the down columns to Q8_0 instead: both errors are ~1e-2 of
  // the FFN output (tests/test_sparse_ffn.cpp), a few 1e-3 of the logits here.
  CHECK(rel < 3e-2);
  CHECK(rel > 0);  // really a different path
}

TEST_CASE("sparse runtime: steps above sparse-dense-crossover go dense; both sides match the dense engine") {
  // 12 tokens in steps of 5, 5 and 2: crossover 1 runs every step dense, 4 the two steps of 5
  // dense and the last sparse, 1048576 all sparse. The oracle's lists come from the gpu-worker
  // (every neuron), threshold's from the predictor actor: both sides of both switches.
  for (GgmlType type : {GgmlType::F32, GgmlType::Q4_0}) {
    auto w = ModelWeights::load(sparse_model(type == GgmlType::F32 ? "f32" : "q4_0", type));
    for (PredictorMode predictor : {PredictorMode::oracle, PredictorMode::threshold}) {
      uint64_t bytes[3] = {};
      int i = 0;
      for (int crossover : {1, 4, 1 << 20}) {
        DenseEngine dense(w, {1, 256, 4});
        DeploymentConfig o = sparse_options(0.3, 2, 5, predictor);
        o.sparse_dense_crossover = crossover;
        ActorRuntime rt(w, o);
        const double rel = testing::relative_difference(rt, dense, kSparseTokens);
        bytes[i++] = rt.predictor_stats().ffn_weight_bytes;
        INFO(type_name(type) << " predictor " << to_string(predictor) << " crossover " << crossover << ": rel " << rel);
        // F32: float summation order only. Q4_0: the dense path rounds the hidden state to Q8_0,
        // the sparse one the down columns (see the Q4_0 case above).
        CHECK(rel < (type == GgmlType::F32 ? 1e-5 : 3e-2));
      }
      // Only the sparse kernels count the bytes they read: none when every step is dense.
      INFO(type_name(type) << " predictor " << to_string(predictor) << ": sparse bytes " << bytes[0] << " / " << bytes[1] << " / " << bytes[2]);
      CHECK(bytes[0] == 0);
      CHECK(bytes[1] > 0);
      CHECK(bytes[1] < bytes[2]);
    }
  }
}

TEST_CASE("sparse runtime: predictor 'all' computes every neuron and matches the dense engine") {
  auto w = ModelWeights::load(sparse_model("f32", GgmlType::F32));
  DenseEngine dense(w, {1, 256, 4});
  ActorRuntime rt(w, sparse_options(0.5, 1, 1, PredictorMode::all));  // decode: every token reads for itself
  CHECK(testing::relative_difference(rt, dense, kSparseTokens) < 1e-5);
  const auto s = rt.predictor_stats(true);
  CHECK(s.fraction_computed() == doctest::Approx(1.0));
  // ReLU: every gate row is read, up and down only for the ~10% that fire.
  const FfnWeights f = FfnWeights::of_layer(*w, 0);
  const auto all_records = static_cast<double>(s.token_layers) * static_cast<double>(f.n_neurons()) *
                           static_cast<double>(NeuronBundles(f).used_record_bytes());
  const auto gates = static_cast<double>(s.token_layers) * static_cast<double>(f.n_neurons()) * static_cast<double>(NeuronBundles(f).gate_up_row_bytes());
  INFO("read " << s.ffn_weight_bytes << " bytes; gate rows alone " << gates << ", all records " << all_records);
  CHECK(static_cast<double>(s.ffn_weight_bytes) > gates);
  CHECK(static_cast<double>(s.ffn_weight_bytes) < gates + 0.3 * (all_records - gates));
  CHECK(rt.predictor_stats().token_layers == 0);  // reset
  CHECK(rt.predictor_stats().ffn_weight_bytes == 0);
}

TEST_CASE("sparse runtime = dense engine: scattered hot neurons from a placement file") {
  auto w = ModelWeights::load(sparse_model("f32", GgmlType::F32));
  const ModelConfig& c = w->config();
  Placement p;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<uint8_t> flags(static_cast<size_t>(c.d_ff));
    for (int i = 0; i < c.d_ff; ++i) flags[static_cast<size_t>(i)] = (i * 5 + l) % 3 == 0;
    p.hot.push_back(flags);
  }
  const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "sparse_rt_placement.gguf";
  write_placement(path, c, p);
  DeploymentConfig o = sparse_options(0.0, 2, 3);
  o.placement = path.string();
  DenseEngine dense(w, {1, 256, 4});
  ActorRuntime rt(w, o);
  CHECK(testing::relative_difference(rt, dense, kSparseTokens) < 1e-5);
}

TEST_CASE("sparse runtime: a trained predictor is required where asked for, and thresholds for SwiGLU") {
  auto w = ModelWeights::load(sparse_model("f32", GgmlType::F32));
  CHECK_THROWS_WITH_AS(ActorRuntime(w, sparse_options(0.3, 1, 1, PredictorMode::trained)), doctest::Contains("needs a predictor file"),
                       std::invalid_argument);
}
