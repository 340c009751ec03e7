// The token loop: evaluate the prompt, then sample and evaluate one token at a
// time until the budget, an end-of-generation token or the caller says stop.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/evaluator.h"
#include "engine/sampler.h"

namespace actinfer {

struct GenerationStats {
  int n_prompt = 0;
  int n_generated = 0;  // tokens sampled
  int n_decoded = 0;    // tokens evaluated one at a time after the prompt
  double prompt_seconds = 0;
  double decode_seconds = 0;
  std::string stop_reason;  // "length", "end of generation", "context full", "stopped"
  double prompt_tokens_per_second() const { return prompt_seconds > 0 ? n_prompt / prompt_seconds : 0; }
  double decode_tokens_per_second() const { return decode_seconds > 0 ? n_decoded / decode_seconds : 0; }
};

struct GenerationCallbacks {
  std::function<bool(int32_t)> is_end_of_generation;  // optional
  std::function<bool(int32_t)> on_token;               // optional; return false to stop
};

// Appends the generated tokens to `tokens_out` (when given).
GenerationStats generate(Evaluator& evaluator, Sampler& sampler, std::span<const int32_t> prompt, int n_predict,
                         const GenerationCallbacks& callbacks, std::vector<int32_t>* tokens_out = nullptr);

}  // namespace actinfer
