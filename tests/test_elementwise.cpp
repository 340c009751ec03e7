// Small float kernels against values worked out by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <cstdint>
#include <vector>

#include "kernels/elementwise.h"

using namespace actinfer;

TEST_CASE("rms_norm: x / sqrt(mean(x^2) + eps) * w") {
  const float x[4] = {1, 2, 3, 4};  // mean square 7.5
  const float w[4] = {1, 1, 2, 0.5f};
  float out[4];
  rms_norm(x, w, out, 4, 0.0f);
  const float s = 1.0f / std::sqrt(7.5f);
  CHECK(out[0] == doctest::Approx(s));
  CHECK(out[2] == doctest::Approx(6 * s));
  CHECK(out[3] == doctest::Approx(2 * s));
}

TEST_CASE("rope: rotates adjacent pairs by pos * base^(-2i/d)") {
  // One head of 4 dims, base 100: pair 0 turns by pos rad, pair 1 by pos/10 rad.
  std::vector<float> x = {1, 0, 0, 1};
  rope_inplace(x.data(), 1, 4, 4, 2, 100.0f);
  CHECK(x[0] == doctest::Approx(std::cos(2.0)));
  CHECK(x[1] == doctest::Approx(std::sin(2.0)));
  CHECK(x[2] == doctest::Approx(-std::sin(0.2)));
  CHECK(x[3] == doctest::Approx(std::cos(0.2)));
  // Dims past rope_dims stay; position 0 is the identity.
  std::vector<float> y = {1, 2, 3, 4};
  rope_inplace(y.data(), 1, 4, 2, 0, 100.0f);
  CHECK(y == std::vector<float>{1, 2, 3, 4});
  rope_inplace(y.data(), 1, 4, 2, 1, 100.0f);
  CHECK(y[2] == 3.0f);
  CHECK(y[3] == 4.0f);
}

TEST_CASE("rope: a position's rotations, computed once, rotate every head alike") {
  float cs[4];
  rope_rotations(4, 2, 100.0f, cs);
  CHECK(cs[0] == doctest::Approx(std::cos(2.0)));
  CHECK(cs[1] == doctest::Approx(std::sin(2.0)));
  CHECK(cs[2] == doctest::Approx(std::cos(0.2)));
  CHECK(cs[3] == doctest::Approx(std::sin(0.2)));
  // Two heads of 6 dims, 4 rotated: both heads turn by the same angles, dims 4-5 stay.
  std::vector<float> x = {1, 0, 0, 1, 7, 8, 0, 2, 3, 0, 9, 10};
  rope_apply(x.data(), 2, 6, 4, cs);
  CHECK(x[0] == doctest::Approx(std::cos(2.0)));
  CHECK(x[1] == doctest::Approx(std::sin(2.0)));
  CHECK(x[6] == doctest::Approx(-2 * std::sin(2.0)));
  CHECK(x[7] == doctest::Approx(2 * std::cos(2.0)));
  CHECK(x[8] == doctest::Approx(3 * std::cos(0.2)));
  CHECK(x[9] == doctest::Approx(3 * std::sin(0.2)));
  CHECK(x[4] == 7.0f);
  CHECK(x[11] == 10.0f);
}

TEST_CASE("softmax: against std::exp in double, lengths 1..67 (vector body and tail), scores spread over 0..-120") {
  uint64_t seed = 88172645463325252ull;
  auto uniform = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return static_cast<double>(seed >> 11) * 0x1.0p-53;
  };
  double worst = 0;
  for (int n = 1; n <= 67; ++n)
    for (double spread : {1.0, 20.0, 120.0}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = static_cast<float>((uniform() - 0.5) * spread + 3.0);
      std::vector<double> ref(x.size());
      const double m = *std::max_element(x.begin(), x.end());
      double sum = 0;
      for (size_t i = 0; i < x.size(); ++i) sum += ref[i] = std::exp(static_cast<double>(x[i]) - m);
      const std::vector<float> scores = x;
      softmax_inplace(x.data(), n);
      for (size_t i = 0; i < x.size(); ++i) {
        // float's x - max is off by up to half an ulp of the difference, which e^ turns into
        // that much relative error; beyond it a few ulp of exp, scale and division.
        const double p = ref[i] / sum, tol = 5e-7 + std::fabs(static_cast<double>(scores[i]) - m) * 0x1.0p-23;
        if (p > 1e-30) worst = std::max(worst, std::fabs(x[i] - p) / p / tol);
      }
    }
  INFO("max relative error / tolerance " << worst);
  CHECK(worst < 1.0);
  std::vector<float> nan = {0.0f, std::nanf(""), 1.0f, 2, 3, 4, 5, 6, 7};
  softmax_inplace(nan.data(), static_cast<int64_t>(nan.size()));
  CHECK(std::isnan(nan[1]));
}

TEST_CASE("softmax and activations") {
  float x[3] = {0.0f, std::log(3.0f), 1000.0f};
  softmax_inplace(x, 2);
  CHECK(x[0] == doctest::Approx(0.25));
  CHECK(x[1] == doctest::Approx(0.75));
  float big[2] = {1000.0f, 1000.0f};  // no overflow
  softmax_inplace(big, 2);
  CHECK(big[0] == doctest::Approx(0.5));
  CHECK(activate(Activation::ReLU, -2.0f) == 0.0f);
  CHECK(activate(Activation::ReLU, 2.0f) == 2.0f);
  CHECK(activate(Activation::SiLU, 1.0f) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
  CHECK(activate(Activation::GELU, 1.0f) == doctest::Approx(0.8411920));  // tanh approximation
  std::vector<float> a(19), b(19), y(19, 1.0f);
  for (int i = 0; i < 19; ++i) a[i] = static_cast<float>(i), b[i] = 2.0f;
  CHECK(dot_f32(a.data(), b.data(), 19) == doctest::Approx(2.0 * 171));
  axpy(0.5f, a.data(), y.data(), 19);
  CHECK(y[18] == doctest::Approx(10.0));
}

TEST_CASE("rope neox: rotates (x[i], x[i + d/2]) by pos * base^(-2i/d), every head alike") {
  // Two heads of 4 dims, base 100: pair (0, 2) turns by pos rad, pair (1, 3) by pos/10 rad.
  std::vector<float> x = {1, 0, 0, 1, 1, 0, 0, 1};
  std::vector<float> cs(4);
  rope_rotations(4, 2, 100.0f, cs.data());
  rope_apply_neox(x.data(), 2, 4, 4, cs.data());
  for (int h = 0; h < 2; ++h) {
    const float* v = &x[static_cast<size_t>(h) * 4];
    CHECK(v[0] == doctest::Approx(std::cos(2.0)));
    CHECK(v[2] == doctest::Approx(std::sin(2.0)));
    CHECK(v[1] == doctest::Approx(-std::sin(0.2)));
    CHECK(v[3] == doctest::Approx(std::cos(0.2)));
  }
}

TEST_CASE("rms_norm_add: acc += rms_norm(x) * w, x untouched") {
  const float x[4] = {1, 2, 3, 4};  // mean square 7.5
  const float w[4] = {1, 1, 2, 0.5f};
  float acc[4] = {10, 20, 30, 40};
  rms_norm_add(x, w, acc, 4, 0.0f);
  const float s = 1.0f / std::sqrt(7.5f);
  CHECK(acc[0] == doctest::Approx(10 + s));
  CHECK(acc[2] == doctest::Approx(30 + 6 * s));
  CHECK(acc[3] == doctest::Approx(40 + 2 * s));
  CHECK(x[1] == 2.0f);
}

TEST_CASE("activate_inplace: SiLU, GELU, ReLU of a row against their definitions in double") {
  std::vector<float> x;
  for (int i = -4000; i <= 4000; ++i) x.push_back(static_cast<float>(i) * 0.01f);  // -40 .. 40
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, -1e-6f, 88.0f, -88.0f, 200.0f, -200.0f}) x.push_back(v);
  x.push_back(0.5f);  // a length that is not a multiple of 8: the scalar tail
  for (Activation a : {Activation::SiLU, Activation::GELU, Activation::ReLU}) {
    std::vector<float> y = x;
    activate_inplace(a, y.data(), static_cast<int64_t>(y.size()));
    int bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      double ref = 0;
      switch (a) {
        case Activation::SiLU: ref = v / (1.0 + std::exp(-v)); break;
        case Activation::GELU: ref = 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * v * (1.0 + 0.044715 * v * v))); break;
        case Activation::ReLU: ref = v > 0 ? v : 0; break;
      }
      if (!(std::fabs(y[i] - ref) <= 2e-6 * std::max(std::fabs(v), std::fabs(ref)) + 1e-37) && ++bad <= 3)
        MESSAGE("activation " << static_cast<int>(a) << " of " << v << ": " << y[i] << " vs " << ref);
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("first_max_index and first_nan_or_inf: the first position, any length and place, ties and -inf") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> value(-4, 4);  // few values: many ties
  for (int n = 1; n <= 41; ++n)
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = value(rng) == -4 ? -INFINITY : static_cast<float>(value(rng));
      size_t want = 0;  // written out: the first strictly greater wins
      for (size_t i = 1; i < x.size(); ++i)
        if (x[i] > x[want]) want = i;
      CHECK(first_max_index(x.data(), n) == static_cast<int64_t>(want));
      CHECK(first_nan_or_inf(x.data(), n) == n);  // -inf is allowed
      const auto at = static_cast<size_t>(rng() % static_cast<unsigned>(n));
      for (float bad : {NAN, INFINITY}) {
        std::vector<float> y = x;
        y[at] = bad;
        if (at + 1 < y.size()) y.back() = NAN;  // a later one is not the first
        CHECK(first_nan_or_inf(y.data(), n) == static_cast<int64_t>(at));
      }
    }
  const float all_minus_inf[9] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  CHECK(first_max_index(all_minus_inf, 9) == 0);
}
