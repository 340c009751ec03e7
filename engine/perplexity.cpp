#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace actinfer {

double negative_log_likelihood(std::span<const float> logits, int32_t token) {
  if (token < 0 || static_cast<size_t>(token) >= logits.size())
    throw std::out_of_range("token " + std::to_string(token) + " outside a vocabulary of " + std::to_string(logits.size()));
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l) - max);
  return -(static_cast<double>(logits[static_cast<size_t>(token)]) - max - std::log(sum));
}

PerplexityResult perplexity(Evaluator& ev, std::span<const int32_t> tokens, int n_ctx, bool add_bos, int32_t bos,
                            const std::function<void(int done, int total)>& progress) {
  if (n_ctx < 3)
    throw std::invalid_argument("perplexity needs a context of at least 3 tokens (got " + std::to_string(n_ctx) +
                                "): each chunk scores its tokens n_ctx/2+1 .. n_ctx-1");
  if (n_ctx > ev.n_ctx())
    throw std::invalid_argument("perplexity chunk of " + std::to_string(n_ctx) + " tokens exceeds the evaluator's context of " +
                                std::to_string(ev.n_ctx()) + " tokens");
  if (tokens.size() < static_cast<size_t>(n_ctx))
    throw std::invalid_argument("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                                std::to_string(n_ctx) + " (give a longer text or a smaller context)");
  const int n_vocab = ev.config().n_vocab;
  if (add_bos && (bos < 0 || bos >= n_vocab))
    throw std::invalid_argument("the model adds BOS but its BOS id " + std::to_string(bos) + " is not in the vocabulary of " +
                                std::to_string(n_vocab));

  const int n_chunks = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
  const int first = n_ctx / 2;
  const int per_chunk = perplexity_scored_per_chunk(n_ctx);
  PerplexityResult r;
  r.n_chunks = n_chunks;
  r.chunk_ppl.reserve(static_cast<size_t>(n_chunks));
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  double nll_total = 0, nll2_total = 0;
  for (int c = 0; c < n_chunks; ++c) {
    const auto src = tokens.subspan(static_cast<size_t>(c) * n_ctx, static_cast<size_t>(n_ctx));
    std::copy(src.begin(), src.end(), chunk.begin());
    if (add_bos) chunk[0] = bos;
    const std::span<const int32_t> all(chunk);
    ev.rewind(0);
    // The prefix needs no logits; logits of positions first .. n_ctx-2 score the
    // tokens after them; the chunk's last token predicts nothing and is not fed.
    ev.eval(all.first(static_cast<size_t>(first)), false);
    ev.eval(all.subspan(static_cast<size_t>(first), static_cast<size_t>(per_chunk)), true);
    double nll_chunk = 0;
    for (int j = 0; j < per_chunk; ++j) {
      const double nll = negative_log_likelihood(ev.logits(j), chunk[static_cast<size_t>(first + j + 1)]);
      nll_chunk += nll;
      nll2_total += nll * nll;
    }
    nll_total += nll_chunk;
    r.chunk_ppl.push_back(std::exp(nll_chunk / per_chunk));
    if (progress) progress(c + 1, n_chunks);
  }
  r.n_scored = static_cast<int64_t>(n_chunks) * per_chunk;
  r.nll_mean = nll_total / static_cast<double>(r.n_scored);
  r.ppl = std::exp(r.nll_mean);
  const double variance = nll2_total / static_cast<double>(r.n_scored) - r.nll_mean * r.nll_mean;
  if (r.n_scored > 1 && variance > 0) r.ppl_stderr = r.ppl * std::sqrt(variance / static_cast<double>(r.n_scored - 1));
  return r;
}

}  // namespace actinfer
