// The tokens a decode benchmark feeds (`actinfer bench`). Random by default, as
// llama-bench does, each step feeding back the model's greedy pick. From a text, the
// decode is teacher-forced: step i feeds the text's token i whatever the model picked
// (the pick is still computed, so the work is the same). On random input a sparse
// runtime's trained predictor sees activations unlike any text it was trained on and
// misses neurons (recall ~0.7 on the TinyLlama-shape model vs ~0.96 on text), which
// makes sparse decode look faster than it is: real text is the honest input.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/evaluator.h"

namespace actinfer {

struct DecodeInput {
  std::vector<int32_t> prompt;  // the prompt-processing benchmark's tokens
  std::vector<int32_t> forced;  // teacher-forced decode tokens; empty: greedy from prompt[0] (or token 0)
};

// n_prompt tokens drawn uniformly from the vocabulary (seeded), greedy decode.
DecodeInput random_decode_input(int n_vocab, int n_prompt, uint32_t seed);

// The first n_prompt tokens of `text` as the prompt, its first n_gen as the forced decode.
// Throws std::invalid_argument naming `name` when the text is shorter than either.
DecodeInput text_decode_input(const std::vector<int32_t>& text, int n_prompt, int n_gen, const std::string& name);

// n_gen single-token steps from an empty cache (rewinds `ev` first).
void decode_steps(Evaluator& ev, const DecodeInput& in, int n_gen, int from = 0);

}  // namespace actinfer
