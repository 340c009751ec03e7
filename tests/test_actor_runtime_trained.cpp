// Trained predictors in the actor runtime. Without --check-recall they run on the
// gpu-worker's backend (which then hands out the layer's work itself); with it, in the
// predictor actor next to the true activations. Both must compute exactly the predicted
// neurons. The truth here is the dense engine on a model whose unpredicted neurons are
// switched off in the file (their gate rows zeroed: a ReLU neuron with a zero gate row
// contributes exactly nothing), against predictors whose decision is fixed by their bias.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "engine/layer_ops.h"
#include "engine/neuron_bundles.h"
#include "engine/neuron_predictor.h"
#include "kernels/quantize.h"
#include "model/gguf_file.h"
#include "tests/runtime_comparison.h"

using namespace actinfer;

namespace {

const std::vector<int32_t> kTrainedTokens = {3, 77, 120, 5, 9, 250, 31, 64, 2, 199, 17, 42};

// Predictors with zero weights: neuron i of every layer is predicted active exactly when keep(i).
template <class Keep>
std::filesystem::path fixed_predictors(const std::string& name, const ModelConfig& c, Keep keep) {
  std::vector<PredictorLayer> layers;
  std::vector<PredictorLayerInfo> info;
  for (int l = 0; l < c.n_layers; ++l) {
    PredictorLayer p;
    p.d_model = c.d_model;
    p.d_ff = c.d_ff;
    p.rank = 32;
    p.fc1.resize(32 * static_cast<size_t>(row_bytes(GgmlType::Q8_0, c.d_model)));
    p.fc2.resize(static_cast<size_t>(c.d_ff) * static_cast<size_t>(row_bytes(GgmlType::Q8_0, 32)));
    const std::vector<float> zeros(static_cast<size_t>(std::max(c.d_model, 32)), 0.0f);
    for (int j = 0; j < 32; ++j)
      quantize_row(GgmlType::Q8_0, zeros.data(), p.fc1.data() + j * row_bytes(GgmlType::Q8_0, c.d_model), c.d_model);
    for (int i = 0; i < c.d_ff; ++i) quantize_row(GgmlType::Q8_0, zeros.data(), p.fc2.data() + i * row_bytes(GgmlType::Q8_0, 32), 32);
    for (int i = 0; i < c.d_ff; ++i) p.bias.push_back(keep(i) ? 1.0f : -1.0f);
    layers.push_back(std::move(p));
    info.push_back({0, 1, 1, 0.5f, 0.1f});
  }
  const auto path = testing::test_data_path(name + ".gguf");
  NeuronPredictors(c, std::move(layers), std::move(info), 0.95).save(path);
  return path;
}

// A copy of an F32 ReLU model with the gate rows of the neurons not kept set to zero.
template <class Keep>
std::filesystem::path without_neurons(const std::filesystem::path& model, const std::string& name, const ModelConfig& c, Keep keep) {
  std::ifstream in(model, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const GgufFile g = GgufFile::open(model);
  const size_t row = static_cast<size_t>(c.d_model) * sizeof(float);
  for (int l = 0; l < c.n_layers; ++l) {
    const TensorInfo* t = g.find_tensor("blk." + std::to_string(l) + ".ffn_gate.weight");
    REQUIRE(t != nullptr);
    REQUIRE(t->type == GgmlType::F32);
    const auto data = g.tensor_data(*t);
    // Random floats: the tensor's first row occurs once in the file.
    const auto at = std::search(bytes.begin(), bytes.end(), reinterpret_cast<const char*>(data.data()),
                                reinterpret_cast<const char*>(data.data()) + row);
    REQUIRE(at != bytes.end());
    for (int i = 0; i < c.d_ff; ++i)
      if (!keep(i)) std::memset(&*at + static_cast<size_t>(i) * row, 0, row);
  }
  const auto path = testing::test_data_path(name + ".gguf");
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

DeploymentConfig trained_options(const std::filesystem::path& predictors, double hot, int teams, int batch, bool check_recall) {
  DeploymentConfig o;
  o.engine = {1, 256, batch, 0, false, KvCacheType::F32};  // F16 K, V would round the sums' last bits apart
  o.hot_fraction = hot;
  o.teams.assign(static_cast<size_t>(teams), TeamConfig{0, {}, 2});
  o.predictor = PredictorMode::trained;
  o.predictors = predictors;
  o.check_recall = check_recall;
  o.sparse = true;
  return o;
}

}  // namespace

TEST_CASE("trained predictors compute exactly the predicted neurons, on the gpu-worker and in the predictor actor") {
  const auto model = testing::small_relu_model("trained_rt_f32", GgmlType::F32, 9);
  auto w = ModelWeights::load(model);
  const ModelConfig& c = w->config();
  auto even = [](int i) { return i % 2 == 0; };
  const auto predictors = fixed_predictors("trained_rt_even", c, even);
  auto truth_weights = ModelWeights::load(without_neurons(model, "trained_rt_f32_even", c, even));
  for (bool check_recall : {false, true}) {
    for (int batch : {1, 5}) {
      for (double hot : {0.0, 0.3, 1.0}) {
        for (int teams : {1, 2}) {
          DenseEngine truth(truth_weights, {1, 256, 4, 0, false, KvCacheType::F32});
          DenseEngine full(w, {1, 256, 4, 0, false, KvCacheType::F32});
          ActorRuntime rt(w, trained_options(predictors, hot, teams, batch, check_recall));
          const double rel = testing::relative_difference(rt, truth, kTrainedTokens);
          const auto stats = rt.predictor_stats(true);
          const double rel_full = testing::relative_difference(rt, full, kTrainedTokens);
          INFO("check_recall " << check_recall << " batch " << batch << " hot " << hot << " teams " << teams << ": rel " << rel
                               << " (to the full model " << rel_full << ")");
          CHECK(rel < 1e-5);
          CHECK(rel_full > 1e-3);  // the odd neurons matter: the test can tell
          CHECK(stats.token_layers == static_cast<int64_t>(kTrainedTokens.size()) * c.n_layers);
          CHECK(stats.predicted * 2 == stats.neurons);
          CHECK(stats.predictor_bytes > 0);
          if (batch == 1) {  // every predicted neuron's gate row, and whole records at most: counted on
                             // the gpu-worker's own path (all hot) as on the merge path
            const NeuronBundles b(FfnWeights::of_layer(*w, 0));
            CHECK(static_cast<double>(stats.ffn_weight_bytes) >= static_cast<double>(stats.predicted) * static_cast<double>(b.gate_up_row_bytes()));
            CHECK(static_cast<double>(stats.ffn_weight_bytes) <= static_cast<double>(stats.predicted) * static_cast<double>(b.used_record_bytes()));
          }
          if (check_recall) CHECK(stats.truth_checked == stats.token_layers);
          else CHECK(stats.truth_checked == 0);
        }
      }
    }
  }
}
