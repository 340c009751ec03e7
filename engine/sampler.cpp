#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "kernels/elementwise.h"

namespace actinfer {

void SamplerParams::validate() const {
  if (!std::isfinite(temperature)) throw std::invalid_argument("temperature must be a finite number");
  if (!(top_p > 0.0f)) throw std::invalid_argument("top-p must be in (0, 1], got " + std::to_string(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) throw std::invalid_argument("min-p must be in [0, 1], got " + std::to_string(min_p));
  if (!(repeat_penalty > 0.0f)) throw std::invalid_argument("repeat penalty must be positive, got " + std::to_string(repeat_penalty));
  if (repeat_last_n < 0) throw std::invalid_argument("repeat-last-n must be >= 0, got " + std::to_string(repeat_last_n));
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    throw std::invalid_argument("frequency penalty must be in [-2, 2], got " + std::to_string(frequency_penalty));
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    throw std::invalid_argument("presence penalty must be in [-2, 2], got " + std::to_string(presence_penalty));
}

Sampler::Sampler(SamplerParams params) : params_(params), rng_(params.seed) { params_.validate(); }

std::vector<Sampler::Candidate> Sampler::candidates(std::span<const float> logits, std::span<const int32_t> history) const {
  if (logits.empty()) throw std::invalid_argument("sampler: empty logits");
  // NaN compares false with everything: greedy would pick token 0 forever and the draw
  // would be meaningless. -inf (a masked token) is fine; NaN or +inf means broken weights.
  if (const auto bad = static_cast<size_t>(first_nan_or_inf(logits.data(), static_cast<int64_t>(logits.size()))); bad < logits.size())
    throw NonFiniteLogits("the model produced a non-finite logit (" + std::to_string(logits[bad]) + " for token " +
                          std::to_string(bad) + "): its weights or hyper-parameters are broken");
  const bool penalty = params_.repeat_last_n > 0 &&
                       (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f);
  if (params_.temperature <= 0.0f && !penalty) {  // greedy: the first largest logit, without a copy of the vocabulary
    const auto best = static_cast<size_t>(first_max_index(logits.data(), static_cast<int64_t>(logits.size())));
    return {{static_cast<int32_t>(best), logits[best]}};
  }
  std::vector<Candidate> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<int32_t>(i), logits[i]};

  if (penalty) {
    const size_t n = std::min(history.size(), static_cast<size_t>(params_.repeat_last_n));
    std::unordered_map<int32_t, int> count;
    for (auto it = history.end() - static_cast<std::ptrdiff_t>(n); it != history.end(); ++it) ++count[*it];
    for (const auto& [id, k] : count) {
      if (id < 0 || static_cast<size_t>(id) >= c.size()) continue;
      float& l = c[static_cast<size_t>(id)].logit;
      if (params_.repeat_penalty != 1.0f) l = l > 0.0f ? l / params_.repeat_penalty : l * params_.repeat_penalty;
      l -= static_cast<float>(k) * params_.frequency_penalty + params_.presence_penalty;
    }
  }
  auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  if (params_.temperature <= 0.0f) {
    c = {*std::min_element(c.begin(), c.end(), by_logit)};
    return c;
  }
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + params_.top_k, c.end(), by_logit);
    c.resize(static_cast<size_t>(params_.top_k));
  } else {
    std::sort(c.begin(), c.end(), by_logit);
  }
  // Probabilities at temperature 1 decide the top-p / min-p cut, as llama.cpp does.
  std::vector<double> p(c.size());
  double sum = 0.0;
  for (size_t i = 0; i < c.size(); ++i) sum += p[i] = std::exp(static_cast<double>(c[i].logit - c[0].logit));
  size_t keep = c.size();
  if (params_.top_p < 1.0f) {
    double acc = 0.0;
    for (size_t i = 0; i < c.size(); ++i) {
      acc += p[i] / sum;
      if (acc >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    size_t k = 1;
    while (k < keep && p[k] >= params_.min_p * p[0]) ++k;
    keep = k;
  }
  c.resize(keep);
  return c;
}

std::vector<std::pair<int32_t, float>> Sampler::distribution(std::span<const float> logits, std::span<const int32_t> history) const {
  const auto c = candidates(logits, history);
  std::vector<std::pair<int32_t, float>> out;
  if (c.size() == 1) return {{c[0].id, 1.0f}};
  double sum = 0.0;
  std::vector<double> w(c.size());
  for (size_t i = 0; i < c.size(); ++i) sum += w[i] = std::exp(static_cast<double>(c[i].logit - c[0].logit) / params_.temperature);
  for (size_t i = 0; i < c.size(); ++i) out.emplace_back(c[i].id, static_cast<float>(w[i] / sum));
  return out;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const auto dist = distribution(logits, history);
  if (dist.size() == 1) return dist[0].first;
  // 53 random bits to [0, 1): the same draw on every standard library.
  const double r = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double acc = 0.0;
  for (const auto& [id, p] : dist) {
    acc += p;
    if (r < acc) return id;
  }
  return dist.back().first;
}

}  // namespace actinfer
