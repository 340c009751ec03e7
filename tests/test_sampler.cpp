// Sampler: each filter against probabilities worked out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "engine/sampler.h"

using namespace actinfer;

namespace {
// Logits whose softmax (temperature 1) is exactly {0.5, 0.25, 0.125, 0.0625, 0.0625}.
const std::vector<float> kLogits = {std::log(8.0f), std::log(4.0f), std::log(2.0f), 0.0f, 0.0f};
SamplerParams sampling(float temp) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}
}  // namespace

TEST_CASE("sampler: greedy picks the argmax, lowest id on ties") {
  Sampler s(sampling(0.0f));
  CHECK(s.sample(kLogits, {}) == 0);
  CHECK(s.sample(std::vector<float>{1, 3, 3, 2}, {}) == 1);
  CHECK(s.sample(std::vector<float>{-4, -1, 2, 7}, {}) == 3);  // the last one
  CHECK(s.sample(std::vector<float>{-3}, {}) == 0);
}

TEST_CASE("sampler: no filter keeps the softmax") {
  const auto d = Sampler(sampling(1.0f)).distribution(kLogits, {});
  REQUIRE(d.size() == 5);
  CHECK(d[0].second == doctest::Approx(0.5));
  CHECK(d[1].second == doctest::Approx(0.25));
  CHECK(d[4].second == doctest::Approx(0.0625));
}

TEST_CASE("sampler: top-k, top-p, min-p cut where hand computation says") {
  auto p = sampling(1.0f);
  p.top_k = 2;  // {0.5, 0.25} renormalised: {2/3, 1/3}
  auto d = Sampler(p).distribution(kLogits, {});
  REQUIRE(d.size() == 2);
  CHECK(d[0].second == doctest::Approx(2.0 / 3));
  p = sampling(1.0f);
  p.top_p = 0.8f;  // 0.5 + 0.25 < 0.8 <= 0.875: keeps three
  CHECK(Sampler(p).distribution(kLogits, {}).size() == 3);
  p = sampling(1.0f);
  p.min_p = 0.2f;  // keeps p >= 0.1: the first three
  d = Sampler(p).distribution(kLogits, {});
  REQUIRE(d.size() == 3);
  CHECK(d[2].second == doctest::Approx(0.125 / 0.875));
}

TEST_CASE("sampler: temperature sharpens the distribution") {
  // At T = 0.5 the weights are squared: 64, 16, 4, 1, 1 over 86.
  const auto d = Sampler(sampling(0.5f)).distribution(kLogits, {});
  CHECK(d[0].second == doctest::Approx(64.0 / 86));
  CHECK(d[3].second == doctest::Approx(1.0 / 86));
}

TEST_CASE("sampler: repetition penalty divides positive, multiplies negative logits") {
  auto p = sampling(0.0f);
  p.repeat_penalty = 4.0f;
  Sampler s(p);
  // Token 0 (logit ln 8 = 2.08) seen recently: 2.08 / 4 = 0.52 < ln 4 = 1.39, so token 1 wins.
  const std::vector<int32_t> history = {0};
  CHECK(s.sample(kLogits, history) == 1);
  // Outside the window it is not penalised.
  p.repeat_last_n = 1;
  CHECK(Sampler(p).sample(kLogits, std::vector<int32_t>{0, 3}) == 0);
  const std::vector<float> neg = {-1.0f, -2.0f};
  CHECK(Sampler(p).sample(neg, std::vector<int32_t>{0}) == 1);  // -1 * 4 = -4 < -2
}

TEST_CASE("sampler: frequency and presence penalties subtract per occurrence (OpenAI's rule)") {
  // kLogits are ln 8, ln 4, ln 2, 0, 0. Token 0 seen twice: ln 8 - 2 * 0.5 = 1.08 < ln 4 = 1.39.
  auto p = sampling(0.0f);
  p.frequency_penalty = 0.5f;
  CHECK(Sampler(p).sample(kLogits, std::vector<int32_t>{0, 0}) == 1);
  CHECK(Sampler(p).sample(kLogits, std::vector<int32_t>{0}) == 0);  // 2.08 - 0.5 = 1.58 > 1.39
  // Presence counts once however often: 2.08 - 0.8 = 1.28 < 1.39 for one or two occurrences.
  p = sampling(0.0f);
  p.presence_penalty = 0.8f;
  CHECK(Sampler(p).sample(kLogits, std::vector<int32_t>{0}) == 1);
  p.presence_penalty = 0.6f;  // 2.08 - 0.6 = 1.48 > 1.39, even when seen three times
  CHECK(Sampler(p).sample(kLogits, std::vector<int32_t>{0, 0, 0}) == 0);
  // A negative penalty favours seen tokens: token 1 (ln 4) + 2.0 = 3.39 beats ln 8 = 2.08.
  p = sampling(0.0f);
  p.presence_penalty = -2.0f;
  CHECK(Sampler(p).sample(kLogits, std::vector<int32_t>{1}) == 1);
  p.presence_penalty = 2.5f;
  CHECK_THROWS_WITH(Sampler{p}, doctest::Contains("presence penalty"));
  p = sampling(0.0f);
  p.frequency_penalty = -3.0f;
  CHECK_THROWS_WITH(Sampler{p}, doctest::Contains("frequency penalty"));
}

TEST_CASE("sampler: seeded draws are reproducible and follow the distribution") {
  Sampler a(sampling(1.0f)), b(sampling(1.0f));
  std::map<int, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int t = a.sample(kLogits, {});
    CHECK(t == b.sample(kLogits, {}));
    ++counts[t];
  }
  CHECK(counts[0] / double(n) == doctest::Approx(0.5).epsilon(0.05));
  CHECK(counts[2] / double(n) == doctest::Approx(0.125).epsilon(0.1));
}

TEST_CASE("sampler: bad parameters are refused by name") {
  auto p = sampling(1.0f);
  p.top_p = 0.0f;
  CHECK_THROWS_WITH(Sampler{p}, doctest::Contains("top-p"));
  p = sampling(1.0f);
  p.repeat_penalty = -1.0f;
  CHECK_THROWS_WITH(Sampler{p}, doctest::Contains("repeat penalty"));
  p = sampling(1.0f);
  p.min_p = 2.0f;
  CHECK_THROWS_WITH(Sampler{p}, doctest::Contains("min-p"));
}
