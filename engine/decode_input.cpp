#include "engine/decode_input.h"

#include <algorithm>
#include <random>
#include <stdexcept>

namespace actinfer {

DecodeInput random_decode_input(int n_vocab, int n_prompt, uint32_t seed) {
  if (n_vocab < 1 || n_prompt < 0) throw std::invalid_argument("random_decode_input: bad vocabulary or prompt size");
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> any_token(0, n_vocab - 1);
  DecodeInput in;
  in.prompt.resize(static_cast<size_t>(n_prompt));
  for (auto& t : in.prompt) t = any_token(rng);
  return in;
}

DecodeInput text_decode_input(const std::vector<int32_t>& text, int n_prompt, int n_gen, const std::string& name) {
  if (n_prompt < 0 || n_gen < 0) throw std::invalid_argument("text_decode_input: negative token count");
  const size_t need = static_cast<size_t>(std::max(n_prompt, n_gen));
  if (text.size() < need)
    throw std::invalid_argument(name + ": " + std::to_string(text.size()) + " tokens, fewer than the " + std::to_string(need) +
                                " the prompt and decode runs need");
  DecodeInput in;
  in.prompt.assign(text.begin(), text.begin() + n_prompt);
  in.forced.assign(text.begin(), text.begin() + n_gen);
  return in;
}

void decode_steps(Evaluator& ev, const DecodeInput& in, int n_gen, int from) {
  if (!in.forced.empty() && in.forced.size() < static_cast<size_t>(n_gen))
    throw std::invalid_argument("decode_steps: " + std::to_string(in.forced.size()) + " forced tokens for " + std::to_string(n_gen) + " steps");
  ev.rewind(from);
  int32_t tok = !in.forced.empty() ? in.forced[0] : in.prompt.empty() ? 0 : in.prompt[0];
  for (int i = 0; i < n_gen; ++i) {
    ev.eval(std::span<const int32_t>(&tok, 1), false);
    const auto l = ev.logits();
    const auto pick = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    if (i + 1 < n_gen) tok = in.forced.empty() ? pick : in.forced[static_cast<size_t>(i + 1)];
  }
}

}  // namespace actinfer
