// The activation profiler (engine/profiler.h) and its side file (model/profile_file.h),
// on small generated models: fire counts against an independent float computation,
// the designed sparsity of a ReLU model, threshold calibration on a SiLU model, and
// the file round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/profiler.h"
#include "kernels/dequantize.h"
#include "model/model_weights.h"
#include "model/profile_file.h"
#include "model/synthetic_model.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

// Each test case writes its own file: ctest may run them at the same time.
std::shared_ptr<const ModelWeights> small_model(const std::string& activation, const std::string& tag) {
  SyntheticModelConfig cfg;
  cfg.n_layers = 2;
  cfg.dim = 128;
  cfg.ffn = 256;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.vocab = 512;
  cfg.activation = activation;
  cfg.seed = 23;
  const auto path = testing::test_data_path("profiler_" + activation + "_" + tag + ".gguf");
  write_synthetic_model(cfg, path);
  return ModelWeights::load(path);
}

using actinfer::testing::random_tokens;

// y = M x with M's rows dequantized to float.
std::vector<float> matvec(const WeightMatrix& m, const std::vector<float>& x) {
  std::vector<float> row(static_cast<size_t>(m.cols)), y(static_cast<size_t>(m.rows));
  for (int64_t r = 0; r < m.rows; ++r) {
    dequantize_row(m.type, m.row(r), row.data(), m.cols);
    double s = 0;
    for (int64_t c = 0; c < m.cols; ++c) s += static_cast<double>(row[static_cast<size_t>(c)]) * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = static_cast<float>(s);
  }
  return y;
}

std::vector<float> rms(const std::vector<float>& x, const std::vector<float>& w, float eps) {
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const float k = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps));
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * k * w[i];
  return y;
}

// The gate pre-activations (gate . xn) of every layer for one token at position 0
// of an empty cache, in plain float: there attention over the single token gives
// each query head the value vector of its KV head.
std::vector<std::vector<float>> gates_at_position_0(const ModelWeights& w, int32_t token) {
  const ModelConfig& c = w.config();
  std::vector<float> x(static_cast<size_t>(c.d_model));
  dequantize_row(w.token_embedding().type, w.token_embedding().row(token), x.data(), c.d_model);
  std::vector<std::vector<float>> gates;
  for (const LayerWeights& L : w.layers()) {
    REQUIRE(L.bv.empty());
    REQUIRE(L.bo.empty());
    const auto v = matvec(L.wv, rms(x, L.attn_norm, c.norm_eps));
    std::vector<float> heads(static_cast<size_t>(c.n_heads) * c.head_dim);
    const int group = c.n_heads / c.n_kv_heads;
    for (int h = 0; h < c.n_heads; ++h)
      for (int i = 0; i < c.head_dim; ++i)
        heads[static_cast<size_t>(h * c.head_dim + i)] = v[static_cast<size_t>((h / group) * c.head_dim + i)];
    const auto o = matvec(L.wo, heads);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    const auto xn = rms(x, L.ffn_norm, c.norm_eps);
    const auto g = matvec(L.gate, xn), u = matvec(L.up, xn);
    std::vector<float> hidden(g.size());
    for (size_t i = 0; i < g.size(); ++i) hidden[i] = (g[i] > 0 ? g[i] : 0.0f) * u[i];
    const auto y = matvec(L.down, hidden);
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    gates.push_back(g);
  }
  return gates;
}

}  // namespace

TEST_CASE("profiler: ReLU fire counts match an independent float computation") {
  const auto w = small_model("relu", "counts");
  const ModelConfig& c = w->config();
  REQUIRE(c.activation == Activation::ReLU);
  const auto tokens = random_tokens(200, 3, c.n_vocab);
  // Chunks of one token: every token is the first of its chunk (position 0).
  ProfileOptions o;
  o.n_ctx = 1;
  o.n_threads = 2;
  const ActivationProfile p = profile_activations(*w, tokens, o);
  CHECK(p.n_tokens == 200);
  CHECK(p.activation == Activation::ReLU);
  CHECK(p.thresholds == std::vector<float>(2, 0.0f));
  REQUIRE(p.fired.size() == 2);
  // Count with a band around zero where float summation order may flip the sign.
  const float band = 1e-3f;
  std::vector<std::vector<int>> lo(2, std::vector<int>(static_cast<size_t>(c.d_ff))), hi = lo;
  int64_t ambiguous = 0, total_fired = 0;
  for (int32_t t : tokens) {
    const auto g = gates_at_position_0(*w, t);
    for (int l = 0; l < 2; ++l)
      for (int i = 0; i < c.d_ff; ++i) {
        const float v = g[static_cast<size_t>(l)][static_cast<size_t>(i)];
        lo[l][i] += v > band;
        hi[l][i] += v > -band;
        ambiguous += std::fabs(v) <= band;
      }
  }
  int bad = 0;
  for (int l = 0; l < 2; ++l)
    for (int i = 0; i < c.d_ff; ++i) {
      const int f = static_cast<int>(p.fired[l][i]);
      total_fired += f;
      bad += f < lo[l][i] || f > hi[l][i];
    }
  CHECK(bad == 0);
  CHECK(ambiguous < 200 * 2 * c.d_ff / 1000);  // the comparison is (nearly) exact
  CHECK(total_fired > 0);
}

TEST_CASE("profiler: ReLU active fraction is the designed 1 - sparsity") {
  const auto w = small_model("relu", "fraction");
  const auto tokens = random_tokens(320, 5, w->config().n_vocab);
  ProfileOptions o;
  o.n_ctx = 64;
  o.n_threads = 2;
  const ActivationProfile p = profile_activations(*w, tokens, o);
  MESSAGE("ReLU synthetic active fraction " << 1 - p.mean_sparsity() << " (designed 0.1), hot 10% share " << p.hot_share(0, 0.1));
  CHECK(1 - p.mean_sparsity() == doctest::Approx(0.1).epsilon(0.25));  // within 0.075..0.125
  for (int l = 0; l < 2; ++l) CHECK(p.hot_share(l, 0.1) > 0.4);  // power law: a few hot neurons
}

TEST_CASE("profiler: SiLU thresholds hit the target sparsity") {
  const auto w = small_model("silu", "calibration");
  REQUIRE(w->config().activation == Activation::SiLU);
  const auto calib = random_tokens(320, 7, w->config().n_vocab);
  const auto held_out = random_tokens(320, 8, w->config().n_vocab);
  for (double s : {0.5, 0.8}) {
    CAPTURE(s);
    ProfileOptions o;
    o.n_ctx = 64;
    o.n_threads = 2;
    o.target_sparsity = s;
    o.reservoir_size = 1 << 14;  // smaller than the 320 x 256 activations per layer: the sampling path
    const ActivationProfile p = profile_activations(*w, calib, o);
    CHECK(p.activation == Activation::SiLU);
    CHECK(p.target_sparsity == s);
    for (int l = 0; l < 2; ++l) {
      CHECK(p.thresholds[l] > 0);
      CHECK(std::fabs(p.layer_sparsity(l) - s) <= 0.02);
    }
    CHECK(std::fabs(p.mean_sparsity() - s) <= 0.02);
    const ActivationProfile h = count_activations(*w, held_out, p.thresholds, o);
    for (int l = 0; l < 2; ++l) CHECK(std::fabs(h.layer_sparsity(l) - s) <= 0.05);
    MESSAGE("SiLU target " << s << ": calibration " << p.mean_sparsity() << ", held-out " << h.mean_sparsity());
  }
  ProfileOptions bad;
  bad.target_sparsity = 1.0;
  CHECK_THROWS_AS(calibrate_thresholds(*w, calib, bad), std::invalid_argument);
  CHECK_THROWS_AS(profile_activations(*w, std::vector<int32_t>{}, ProfileOptions{}), std::invalid_argument);
  CHECK_THROWS_AS(profile_activations(*w, std::vector<int32_t>{1, 99999}, ProfileOptions{}), std::out_of_range);
}

TEST_CASE("profile file: round trip and wrong model") {
  const auto w = small_model("silu", "file");
  const ModelConfig& c = w->config();
  ProfileOptions o;
  o.n_ctx = 32;
  o.n_threads = 2;
  const ActivationProfile p = profile_activations(*w, random_tokens(64, 9, c.n_vocab), o);
  const auto path = testing::test_data_path("profiler_roundtrip.gguf");
  write_profile(path, c, p);
  const ActivationProfile q = load_profile(path, c);
  CHECK(q.n_tokens == p.n_tokens);
  CHECK(q.activation == p.activation);
  CHECK(q.target_sparsity == p.target_sparsity);
  CHECK(q.thresholds == p.thresholds);
  CHECK(q.fired == p.fired);

  ModelConfig other = c;
  other.d_ff = 512;
  CHECK_THROWS_WITH_AS(load_profile(path, other), doctest::Contains("is for a model with 2 layers x 256 FFN neurons, this model has 2 x 512"),
                       std::runtime_error);
  other = c;
  other.n_layers = 3;
  CHECK_THROWS_AS(load_profile(path, other), std::runtime_error);
  other = c;
  other.activation = Activation::ReLU;
  CHECK_THROWS_WITH_AS(load_profile(path, other), doctest::Contains("measured with activation silu"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_profile(testing::test_data_path("profiler_silu_file.gguf"), c), doctest::Contains("not a profile file"),
                       std::runtime_error);
  ActivationProfile short_profile = p;
  short_profile.fired.pop_back();
  CHECK_THROWS_AS(write_profile(path, c, short_profile), std::invalid_argument);
}

TEST_CASE("profiler: sensitivity allocation keeps the mean sparsity, varies it between layers, and is stored") {
  const auto w = small_model("silu", "allocation");
  const ModelConfig& c = w->config();
  ProfileOptions o;
  o.n_ctx = 32;
  o.n_threads = 2;
  o.target_sparsity = 0.5;
  o.allocation = SparsityAllocation::Sensitivity;
  o.allocate_tokens = 64;  // two chunks swept
  std::vector<int> passes_seen;
  const ActivationProfile p = profile_activations(*w, random_tokens(128, 21, c.n_vocab), o, [&](int pass, int n_passes, int, int) {
    CHECK(n_passes == 3);
    if (passes_seen.empty() || passes_seen.back() != pass) passes_seen.push_back(pass);
  });
  CHECK(passes_seen == std::vector<int>{1, 2, 3});
  CHECK(p.allocation == SparsityAllocation::Sensitivity);
  REQUIRE(p.layer_targets.size() == 2);
  CHECK((p.layer_targets[0] + p.layer_targets[1]) / 2 == doctest::Approx(0.5));
  CHECK(p.sweep.n_chunks == 2);
  REQUIRE(p.sweep.kl.size() == 2);
  CHECK(p.sweep_levels == o.sweep_levels);
  for (int l = 0; l < 2; ++l) {
    CHECK(std::fabs(p.layer_sparsity(l) - p.layer_targets[l]) <= 0.01);  // the threshold is its level's quantile
    for (size_t k = 1; k < p.sweep.kl[l].size(); ++k) CHECK(p.sweep.kl[l][k] >= p.sweep.kl[l][k - 1] * 0.9);  // dropping more costs more
  }
  CHECK(std::fabs(p.mean_sparsity() - 0.5) <= 0.01);
  // The same tokens with uniform allocation: every layer at the target.
  o.allocation = SparsityAllocation::Uniform;
  const ActivationProfile u = profile_activations(*w, random_tokens(128, 21, c.n_vocab), o);
  CHECK(u.layer_targets == std::vector<double>{0.5, 0.5});
  CHECK(u.sweep.kl.empty());

  const auto path = testing::test_data_path("profiler_allocation.gguf");
  write_profile(path, c, p);
  const ActivationProfile q = load_profile(path, c);
  CHECK(q.allocation == SparsityAllocation::Sensitivity);
  REQUIRE(q.layer_targets.size() == 2);
  for (int l = 0; l < 2; ++l) CHECK(q.layer_targets[l] == doctest::Approx(p.layer_targets[l]).epsilon(1e-6));

  ProfileOptions bad = o;
  bad.allocation = SparsityAllocation::Sensitivity;
  bad.allocate_tokens = 16;  // less than a chunk of 32
  CHECK_THROWS_WITH_AS(profile_activations(*w, random_tokens(128, 21, c.n_vocab), bad), doctest::Contains("at least one chunk"),
                       std::invalid_argument);
  bad.allocate_tokens = 64;
  bad.target_sparsity = 0.95;
  CHECK_THROWS_WITH_AS(profile_activations(*w, random_tokens(128, 21, c.n_vocab), bad), doctest::Contains("above them"), std::invalid_argument);
}
