// Picks the next token from logits: repetition, frequency and presence penalties, then top-k, top-p and
// min-p filters, then temperature and a seeded draw (greedy when temp <= 0).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace actinfer {

struct SamplerParams {
  float temperature = 0.0f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off; keeps tokens with p >= min_p * p_max
  float repeat_penalty = 1.0f;  // 1: off; > 1 discourages recent tokens
  int repeat_last_n = 64;       // how many recent tokens the penalties look at
  // OpenAI's penalties: logit -= count * frequency_penalty + (count > 0) * presence_penalty,
  // count = occurrences among the recent tokens. 0: off; in [-2, 2].
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;
  // Throws std::invalid_argument naming the bad field.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(SamplerParams params);
  // `history` is the sequence so far (prompt and generated), for the penalty.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  const SamplerParams& params() const { return params_; }

  struct Candidate {
    int32_t id;
    float logit;
  };
  // The filtered candidates with their probabilities, as the draw sees them (for tests).
  std::vector<std::pair<int32_t, float>> distribution(std::span<const float> logits, std::span<const int32_t> history) const;

 private:
  std::vector<Candidate> candidates(std::span<const float> logits, std::span<const int32_t> history) const;
  SamplerParams params_;
  std::mt19937_64 rng_;
};

}  // namespace actinfer
