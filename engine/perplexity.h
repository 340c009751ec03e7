// Perplexity of an Evaluator over a token sequence, computed the way the
// reference engine (llama.cpp's llama-perplexity) does, so figures compare
// across engines:
//   - the tokens are cut into floor(size / n_ctx) chunks of n_ctx tokens (a
//     remainder shorter than a chunk is not scored);
//   - each chunk is evaluated from an empty cache, its first token replaced by
//     BOS where the model adds BOS (add_bos), else left as is;
//   - in each chunk the logits at positions first = n_ctx/2 .. n_ctx-2 score the
//     next token (positions first+1 .. n_ctx-1, each predicted from its whole
//     prefix): n_ctx - 1 - n_ctx/2 tokens per chunk, as llama.cpp counts them;
//   - NLL = -log_softmax(logits)[token], in double; PPL = exp(mean NLL over all
//     scored tokens of all chunks).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/evaluator.h"

namespace actinfer {

struct PerplexityResult {
  double ppl = 0;        // exp(nll_mean)
  double nll_mean = 0;   // mean negative log-likelihood (nats) over every scored token
  int n_chunks = 0;
  int64_t n_scored = 0;  // n_chunks * (n_ctx - 1 - n_ctx/2)
  std::vector<double> chunk_ppl;  // each chunk's own exp(mean NLL)
  // The uncertainty llama.cpp prints as "PPL = x +/- e": the standard error of the
  // mean NLL, sqrt((mean(NLL^2) - mean(NLL)^2) / (n_scored - 1)), carried to PPL
  // by d exp(m)/dm = PPL. 0 when fewer than two tokens are scored.
  double ppl_stderr = 0;
};

// Tokens scored per chunk of n_ctx tokens.
inline int perplexity_scored_per_chunk(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

// -log softmax(logits)[token], in double (max-subtracted).
double negative_log_likelihood(std::span<const float> logits, int32_t token);

// Throws std::invalid_argument when n_ctx < 3 (no token would be scored), when
// n_ctx exceeds the evaluator's context, when `tokens` is shorter than one
// chunk, or when add_bos and `bos` is not a token of the vocabulary. progress,
// when set, is called after every chunk with (chunks done, chunks in all).
// Leaves the evaluator's cache holding the last chunk.
PerplexityResult perplexity(Evaluator& evaluator, std::span<const int32_t> tokens, int n_ctx, bool add_bos, int32_t bos,
                            const std::function<void(int done, int total)>& progress = {});

}  // namespace actinfer
