// Predictor training (engine/predictor_training.h) on data whose truth is known: a
// firing rule that a rank-32 predictor can represent exactly (it must be learnt), and a
// rule that is pure noise (it cannot be: the quality bars must then fail).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "engine/activation_samples.h"
#include "engine/predictor_training.h"
#include "engine/rng.h"
#include "engine/thread_pool.h"

using namespace actinfer;

namespace {

constexpr int kDim = 64, kNeurons = 128;

// Inputs x ~ N(0, 1)^kDim; neuron i fires when u_i . (V x) + c_i > 0 with V of rank r0.
// A ReLU MLP of rank 2 r0 represents this exactly (z = ReLU(z) - ReLU(-z) for each of
// the r0 directions of V x), so rank 32 >= 2 r0 can learn the rule itself.
// c_i = -|u_i V| * q_i with q_i uniform in [0, 2]: neuron i fires for P(N(0,1) > q_i)
// of the tokens, 2% to 50%: on average (1/2) * integral_0^2 P(N(0,1) > q) dq
// = (E[max(Z, 0)] - E[max(Z - 2, 0)]) / 2 = (0.3989 - 0.0085) / 2 = 0.195.
LayerSamples low_rank_rule(int64_t n, int r0, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> V(static_cast<size_t>(r0) * kDim), U(static_cast<size_t>(kNeurons) * r0), c(kNeurons);
  for (double& v : V) v = rng.normal() / std::sqrt(static_cast<double>(kDim));
  for (double& u : U) u = rng.normal();
  for (int i = 0; i < kNeurons; ++i) {
    // |u_i V|: the standard deviation of u_i . (V x) over x.
    double ss = 0;
    for (int k = 0; k < kDim; ++k) {
      double w = 0;
      for (int j = 0; j < r0; ++j) w += U[static_cast<size_t>(i * r0 + j)] * V[static_cast<size_t>(j * kDim + k)];
      ss += w * w;
    }
    c[static_cast<size_t>(i)] = -std::sqrt(ss) * 2.0 * rng.uniform();
  }
  LayerSamples s(kDim, kNeurons);
  std::vector<float> x(kDim);
  std::vector<double> vx(static_cast<size_t>(r0));
  std::vector<uint8_t> fired(kNeurons);
  for (int64_t t = 0; t < n; ++t) {
    for (float& v : x) v = static_cast<float>(rng.normal());
    for (int j = 0; j < r0; ++j) {
      double a = 0;
      for (int k = 0; k < kDim; ++k) a += V[static_cast<size_t>(j * kDim + k)] * x[static_cast<size_t>(k)];
      vx[static_cast<size_t>(j)] = a;
    }
    for (int i = 0; i < kNeurons; ++i) {
      double z = c[static_cast<size_t>(i)];
      for (int j = 0; j < r0; ++j) z += U[static_cast<size_t>(i * r0 + j)] * vx[static_cast<size_t>(j)];
      fired[static_cast<size_t>(i)] = z > 0;
    }
    s.add(x.data(), fired.data());
  }
  return s;
}

// Neuron i fires with probability p_i = 0.05 + 0.3 i / kNeurons, independent of x.
LayerSamples noise_rule(int64_t n, uint64_t seed) {
  Rng rng(seed);
  LayerSamples s(kDim, kNeurons);
  std::vector<float> x(kDim);
  std::vector<uint8_t> fired(kNeurons);
  for (int64_t t = 0; t < n; ++t) {
    for (float& v : x) v = static_cast<float>(rng.normal());
    for (int i = 0; i < kNeurons; ++i) fired[static_cast<size_t>(i)] = rng.uniform() < 0.05 + 0.3 * i / kNeurons;
    s.add(x.data(), fired.data());
  }
  return s;
}

PredictorTrainOptions options() {
  PredictorTrainOptions o;
  o.rank = 32;
  o.epochs = 30;
  o.batch = 128;
  o.learning_rate = 0.03f;
  o.target_recall = 0.97;
  o.seed = 5;
  return o;
}

}  // namespace

TEST_CASE("predictor training learns a firing rule it can represent exactly") {
  // 10,000 tokens: 8000 train, 1000 calibrate, 1000 held out (128,000 neuron decisions).
  const LayerSamples data = low_rank_rule(10000, 4, 17);
  ThreadPool pool(2);
  const TrainedPredictor tp = train_predictor(pool, data, options());
  const PredictorTrainReport& r = tp.report;
  CHECK(r.n_train == 8000);
  CHECK(r.n_calibration == 1000);
  CHECK(r.n_test == 1000);
  CHECK(r.last_loss < 0.5 * r.first_loss);
  MESSAGE("held-out recall " << r.test.recall() << " precision " << r.test.precision() << " predicted "
                             << r.test.predicted_active(kNeurons) << " true " << r.test.true_active(kNeurons) << " loss "
                             << r.first_loss << " -> " << r.last_loss << " in " << r.seconds << " s");
  // The calibration keeps >= 97% of its firings; held-out tokens come from the same
  // distribution, so their recall is the same up to sampling noise (~25k firings:
  // a standard error of ~0.1 points).
  CHECK(r.calibration.recall() >= 0.97);
  CHECK(r.test.recall() >= 0.95);
  // The rule is representable, so what is left are tokens near a neuron's boundary
  // (finite data, Q8_0 rounding): false positives stay a small fraction of the
  // predictions. (With 4000 tokens this reaches only ~0.9; a predictor that had not
  // learnt the rule would sit near the base rate, ~0.2: see the noise test.)
  CHECK(r.test.precision() >= 0.9);
  CHECK(r.test.true_active(kNeurons) == doctest::Approx(0.195).epsilon(0.15));  // 128 random q_i: +-0.012
  CHECK(r.test.predicted_active(kNeurons) < 1.2 * r.test.true_active(kNeurons));
}

TEST_CASE("predictor training cannot learn noise: high recall then costs precision") {
  const LayerSamples data = noise_rule(4000, 29);
  ThreadPool pool(2);
  PredictorTrainOptions o = options();
  o.epochs = 4;
  const TrainedPredictor tp = train_predictor(pool, data, o);
  const PredictorTrainReport& r = tp.report;
  MESSAGE("noise: held-out recall " << r.test.recall() << " precision " << r.test.precision() << " predicted "
                                    << r.test.predicted_active(kNeurons));
  // Firing is independent of x: whatever the predictor says, a token's neuron i fires
  // with p_i, so precision is a mixture of the p_i (at most 0.35, mean 0.2) and reaching
  // 95% recall means predicting most neurons active.
  CHECK(r.test.recall() >= 0.9);
  CHECK(r.test.precision() < 0.3);
  CHECK(r.test.predicted_active(kNeurons) > 0.6);
}

TEST_CASE("predictor training is deterministic for a seed, whatever the thread count") {
  const LayerSamples data = low_rank_rule(600, 2, 3);
  PredictorTrainOptions o = options();
  o.epochs = 2;
  ThreadPool one(1), two(2);
  const TrainedPredictor a = train_predictor(one, data, o), b = train_predictor(two, data, o);
  CHECK(a.layer.fc1 == b.layer.fc1);
  CHECK(a.layer.fc2 == b.layer.fc2);
  CHECK(a.layer.bias == b.layer.bias);
  o.seed = 6;
  const TrainedPredictor c = train_predictor(two, data, o);
  CHECK(c.layer.fc1 != a.layer.fc1);
}

TEST_CASE("predictor training refuses bad options and too few tokens") {
  const LayerSamples data = low_rank_rule(100, 2, 3);
  ThreadPool pool(1);
  PredictorTrainOptions o = options();
  o.rank = 48;
  CHECK_THROWS_WITH_AS(train_predictor(pool, data, o), doctest::Contains("multiple of 32"), std::invalid_argument);
  o = options();
  o.target_recall = 1.5;
  CHECK_THROWS_AS(train_predictor(pool, data, o), std::invalid_argument);
  const LayerSamples few = low_rank_rule(4, 2, 3);
  CHECK_THROWS_WITH_AS(train_predictor(pool, few, options()), doctest::Contains("record more tokens"), std::invalid_argument);
}

TEST_CASE("rank_for_budget: the largest multiple of 32 that fits") {
  // d 64, d_ff 128: a layer at rank r is r * 68 + 128 * (r / 32 * 34) + 512 bytes.
  CHECK(predictor_layer_bytes(64, 128, 32) == 32 * 68 + 128 * 34 + 512);
  CHECK(predictor_layer_bytes(64, 128, 64) == 64 * 68 + 128 * 68 + 512);
  const uint64_t l32 = 7040, l64 = 13568;  // the two lines above
  CHECK(rank_for_budget(3, 64, 128, 3 * l64) == 64);
  CHECK(rank_for_budget(3, 64, 128, 3 * l64 - 1) == 32);
  CHECK(rank_for_budget(3, 64, 128, 3 * l32 - 1) == 0);
  CHECK(rank_for_budget(1, 64, 128, 1u << 30) == 64);  // capped at d_model
}

TEST_CASE("ranks_for_budget: shared by difficulty within the budget, equal for equal difficulty") {
  const uint64_t b32 = predictor_layer_bytes(128, 256, 32);
  const uint64_t step = predictor_layer_bytes(128, 256, 64) - b32;  // bytes grow linearly with the rank
  // Equal difficulties: the equal ranks rank_for_budget finds.
  const uint64_t budget = 3 * predictor_layer_bytes(128, 256, 96) + 10;
  CHECK(ranks_for_budget({0.5, 0.5, 0.5}, 128, 256, budget) == std::vector<int>{96, 96, 96});
  CHECK(rank_for_budget(3, 128, 256, budget) == 96);
  // Three times harder: about three times the rank. Worked by hand, four +32 steps where
  // difficulty / rank is largest: layer 1 to 64 (0.9/32 > 0.3/32), to 96 (0.9/64 > 0.3/32), then
  // 0.3/32 = 0.9/96, a tie: layer 0 to 64; then 0.9/96 > 0.3/64: layer 1 to 128.
  const uint64_t b = 2 * b32 + 4 * step;  // room for four +32 steps in all
  const std::vector<int> r = ranks_for_budget({0.3, 0.9}, 128, 256, b);
  REQUIRE(r.size() == 2);
  CHECK(r[0] + r[1] == 64 + 4 * 32);
  CHECK(r[1] == 128);
  CHECK(r[0] == 64);
  uint64_t used = 0;
  for (int x : r) used += predictor_layer_bytes(128, 256, x);
  CHECK(used <= b);
  // Capped at the width; too small a budget gives nothing.
  CHECK(ranks_for_budget({1.0}, 64, 256, 1u << 30) == std::vector<int>{64});
  CHECK(ranks_for_budget({1.0, 1.0}, 128, 256, 2 * b32 - 1).empty());
  // The entropy of a firing fraction.
  CHECK(firing_entropy(0.5) == doctest::Approx(1.0));
  CHECK(firing_entropy(0.0) == 0.0);
  CHECK(firing_entropy(0.1) == doctest::Approx(0.4690).epsilon(1e-3));
}
