#include "engine/batched_dense_engine.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace actinfer {

BatchedDenseEngine::BatchedDenseEngine(std::shared_ptr<const ModelWeights> weights, EngineOptions o, int n_slots)
    : weights_(std::move(weights)),
      pool_(default_thread_count(o.n_threads)),
      n_ctx_(checked_context(o, weights_->config())),
      max_batch_(o.max_batch),
      ws_(weights_->config(), o.max_batch, o.exact_activations) {
  // A sequence's text must not depend on the others in its steps: no tiled GEMM here.
  ws_.set_batch_invariant(true);
  if (n_slots <= 0) throw std::invalid_argument("the number of sequence slots must be positive, got " + std::to_string(n_slots));
  const ModelConfig& c = weights_->config();
  caches_.reserve(static_cast<size_t>(n_slots));
  for (int s = 0; s < n_slots; ++s) caches_.push_back(KvCache::of_model(c, n_ctx_, o.cache_type));
  n_past_.assign(static_cast<size_t>(n_slots), 0);
  const size_t n = static_cast<size_t>(max_batch_) * c.d_model;
  x_.resize(n);
  xn_.resize(n);
}

void BatchedDenseEngine::check_slot(int slot) const {
  if (slot < 0 || slot >= n_slots())
    throw std::out_of_range("slot " + std::to_string(slot) + " outside 0.." + std::to_string(n_slots() - 1));
}

int BatchedDenseEngine::n_past(int slot) const {
  check_slot(slot);
  return n_past_[static_cast<size_t>(slot)];
}

void BatchedDenseEngine::rewind(int slot, int n) {
  check_slot(slot);
  int& past = n_past_[static_cast<size_t>(slot)];
  if (n < 0 || n > past) throw std::out_of_range("cannot rewind slot " + std::to_string(slot) + " to position " + std::to_string(n) + " of " + std::to_string(past));
  past = n;
}

std::span<const float> BatchedDenseEngine::logits(int chunk) const {
  if (chunk < 0 || chunk >= n_logits_) throw std::out_of_range("logits of chunk " + std::to_string(chunk) + " of " + std::to_string(n_logits_));
  const size_t nv = static_cast<size_t>(config().n_vocab);
  return {logits_.data() + static_cast<size_t>(chunk) * nv, nv};
}

void BatchedDenseEngine::eval(std::span<const SequenceChunk> chunks) {
  const ModelConfig& c = config();
  const int B = check_step(chunks);

  const ModelWeights& W = *weights_;
  const int64_t d = c.d_model;
  std::vector<int> offset;  // first row of each chunk
  offset.reserve(chunks.size());
  int row = 0;
  for (const SequenceChunk& ch : chunks) {
    offset.push_back(row);
    embed_tokens(W, ch.tokens, x_.data() + static_cast<int64_t>(row) * d);
    row += static_cast<int>(ch.tokens.size());
  }
  std::vector<AttentionSequence> sequences;
  sequences.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i)
    sequences.push_back({&caches_[static_cast<size_t>(chunks[i].slot)], n_past_[static_cast<size_t>(chunks[i].slot)], offset[i],
                         static_cast<int>(chunks[i].tokens.size())});
  for (int l = 0; l < c.n_layers; ++l) {
    attention_block(pool_, ws_, W, l, sequences, x_.data());
    ffn_norm(W, l, x_.data(), xn_.data(), B);
    dense_ffn_residual(pool_, ws_, W, l, xn_.data(), B, x_.data());
  }
  for (const SequenceChunk& ch : chunks) n_past_[static_cast<size_t>(ch.slot)] += static_cast<int>(ch.tokens.size());

  // The output head over each chunk's last row, in one pass over the head's weights.
  const int n = static_cast<int>(chunks.size());
  last_.resize(static_cast<size_t>(n) * d);
  for (int i = 0; i < n; ++i) {
    const int r = offset[static_cast<size_t>(i)] + static_cast<int>(chunks[static_cast<size_t>(i)].tokens.size()) - 1;
    std::copy_n(x_.data() + static_cast<int64_t>(r) * d, d, last_.data() + static_cast<int64_t>(i) * d);
  }
  logits_.resize(static_cast<size_t>(n) * c.n_vocab);
  output_head(pool_, ws_, W, last_.data(), n, logits_.data());
  n_logits_ = n;
}

}  // namespace actinfer
