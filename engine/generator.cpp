#include "engine/generator.h"

#include <chrono>
#include <stdexcept>

namespace actinfer {

GenerationStats generate(Evaluator& ev, Sampler& sampler, std::span<const int32_t> prompt, int n_predict,
                         const GenerationCallbacks& cb, std::vector<int32_t>* tokens_out) {
  using clock = std::chrono::steady_clock;
  if (prompt.empty()) throw std::invalid_argument("the prompt is empty: nothing to generate from");
  GenerationStats s;
  s.n_prompt = static_cast<int>(prompt.size());
  std::vector<int32_t> history(prompt.begin(), prompt.end());

  auto t0 = clock::now();
  ev.eval(prompt, false);
  s.prompt_seconds = std::chrono::duration<double>(clock::now() - t0).count();

  t0 = clock::now();
  s.stop_reason = "length";
  for (int i = 0; i < n_predict; ++i) {
    const int32_t tok = sampler.sample(ev.logits(), history);
    history.push_back(tok);
    ++s.n_generated;
    if (tokens_out) tokens_out->push_back(tok);
    if (cb.is_end_of_generation && cb.is_end_of_generation(tok)) {
      s.stop_reason = "end of generation";
      break;
    }
    if (cb.on_token && !cb.on_token(tok)) {
      s.stop_reason = "stopped";
      break;
    }
    if (i + 1 == n_predict) break;  // the last token needs no evaluation
    if (ev.n_past() >= ev.n_ctx()) {
      s.stop_reason = "context full";
      break;
    }
    ev.eval(std::span<const int32_t>(&tok, 1), false);
    ++s.n_decoded;
  }
  s.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return s;
}

}  // namespace actinfer
