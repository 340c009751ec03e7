// Hostile side files (issue 17): profiles, predictors and placements carry the fingerprint
// of the model they were made from and are refused for another model of the same shape;
// non-finite thresholds and scales are refused at load.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/neuron_predictor.h"
#include "hostile_gguf.h"
#include "model/model_fingerprint.h"
#include "model/model_weights.h"
#include "model/placement.h"
#include "model/predictor_file.h"
#include "model/profile_file.h"

using namespace actinfer;
using namespace actinfer::testing;

namespace {

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

ActivationProfile profile_for(const ModelConfig& c, float threshold) {
  ActivationProfile p;
  p.n_tokens = 10;
  p.activation = c.activation;
  p.thresholds.assign(static_cast<size_t>(c.n_layers), threshold);
  p.fired.assign(static_cast<size_t>(c.n_layers), std::vector<uint32_t>(static_cast<size_t>(c.d_ff), 3));
  return p;
}

Placement placement_for(const ModelConfig& c) {
  Placement p;
  p.hot.assign(static_cast<size_t>(c.n_layers), std::vector<uint8_t>(static_cast<size_t>(c.d_ff), 0));
  return p;
}

// Predictors of rank 32 with every weight 0 and every Q8_0 scale 1 (F16 0x3C00).
NeuronPredictors predictors_for(const ModelConfig& c) {
  std::vector<PredictorLayer> layers;
  std::vector<PredictorLayerInfo> info;
  for (int l = 0; l < c.n_layers; ++l) {
    PredictorLayer p;
    p.d_model = c.d_model;
    p.d_ff = c.d_ff;
    p.rank = 32;
    p.fc1.assign(static_cast<size_t>(p.rank) * (static_cast<size_t>(c.d_model) / 32) * 34, std::byte{0});
    p.fc2.assign(static_cast<size_t>(c.d_ff) * 34, std::byte{0});
    for (auto* q : {&p.fc1, &p.fc2})
      for (size_t at = 0; at < q->size(); at += 34) (*q)[at + 1] = std::byte{0x3C};
    p.bias.assign(static_cast<size_t>(c.d_ff), 0.0f);
    layers.push_back(std::move(p));
    info.push_back({0.0f, 1.0f, 1.0f, 1.0f, 1.0f});
  }
  return NeuronPredictors(c, std::move(layers), std::move(info), 0.9);
}

}  // namespace

TEST_CASE("side files: a profile, predictor or placement of a same-shape model with other weights is refused") {
  const auto a = ModelWeights::load(small_model("side_model_a.gguf", 1));
  const auto b = ModelWeights::load(small_model("side_model_b.gguf", 2));
  const ModelConfig& ca = a->config();
  const ModelConfig& cb = b->config();
  REQUIRE(ca.fingerprint != cb.fingerprint);

  const auto prof = test_data_path("side_a.profile.gguf");
  write_profile(prof, ca, profile_for(ca, 0.0f));
  CHECK_NOTHROW(load_profile(prof, ca));
  CHECK(error_of([&] { load_profile(prof, cb); }).find("profile was made from another model (fingerprint " + ca.fingerprint) !=
        std::string::npos);

  const auto plc = test_data_path("side_a.placement.gguf");
  write_placement(plc, ca, placement_for(ca));
  CHECK_NOTHROW(load_placement(plc, ca));
  CHECK(error_of([&] { load_placement(plc, cb); }).find("placement was made from another model") != std::string::npos);

  const auto pred = test_data_path("side_a.predictor.gguf");
  write_predictor_file(pred, predictors_for(ca));
  CHECK_NOTHROW(read_predictor_file(pred, ca));
  CHECK(error_of([&] { read_predictor_file(pred, cb); }).find("predictor file was made from another model") != std::string::npos);

  // Files of an older actinfer (no fingerprint) are accepted, with a warning.
  ModelConfig unknown = ca;
  unknown.fingerprint.clear();
  write_profile(prof, unknown, profile_for(ca, 0.0f));
  CHECK_FALSE(GgufFile::open(prof).has(kModelFingerprintKey));
  CHECK_NOTHROW(load_profile(prof, cb));
}

TEST_CASE("side files: profile thresholds that are NaN, negative or infinite are refused") {
  const auto m = ModelWeights::load(small_model("side_model_thr.gguf", 1));
  const ModelConfig& c = m->config();
  const auto prof = test_data_path("side_thr.profile.gguf");
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -1.0f, std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    write_profile(prof, c, profile_for(c, bad));
    CHECK(error_of([&] { load_profile(prof, c); }).find("not a finite threshold >= 0") != std::string::npos);
  }
  write_profile(prof, c, profile_for(c, 0.25f));
  CHECK(load_profile(prof, c).thresholds[1] == 0.25f);
}

TEST_CASE("side files: a predictor with a NaN scale or threshold is refused") {
  const auto m = ModelWeights::load(small_model("side_model_scale.gguf", 1));
  const ModelConfig& c = m->config();
  const auto pred = test_data_path("side_scale.predictor.gguf");
  write_predictor_file(pred, predictors_for(c));
  auto bytes = read_bytes(pred);
  const GgufFile f = GgufFile::open(pred);
  const TensorInfo* fc2 = f.find_tensor("blk.1.fc2.weight");
  REQUIRE(fc2 != nullptr);
  const auto bad = test_data_path("side_scale_nan.predictor.gguf");
  auto nan_scale = bytes;
  patch<uint16_t>(nan_scale, f.data_offset() + fc2->offset + 34 * 5, 0x7E00);  // F16 NaN as block 5's scale
  write_bytes(bad, nan_scale);
  CHECK(error_of([&] { read_predictor_file(bad, c); }).find("fc2 block 5 has a non-finite scale") != std::string::npos);

  // The threshold array: write it with a NaN through the rewriter.
  const std::vector<float> thr = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  rewrite_gguf(pred, bad, {{"actinfer.predictor.threshold", [&](GgufWriter& w) { w.add_f32_array("actinfer.predictor.threshold", thr); }}});
  CHECK(error_of([&] { read_predictor_file(bad, c); }).find("layer 1 threshold nan is not a finite number >= 0") != std::string::npos);
}
