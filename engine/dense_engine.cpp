#include "engine/dense_engine.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>

namespace actinfer {

int default_thread_count(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

int checked_context(const EngineOptions& o, const ModelConfig& c) {
  if (o.n_ctx <= 0) throw std::invalid_argument("context length must be positive, got " + std::to_string(o.n_ctx));
  if (o.max_batch <= 0) throw std::invalid_argument("batch size must be positive, got " + std::to_string(o.max_batch));
  if (o.max_layers < 0) throw std::invalid_argument("max_layers must be >= 0");
  const int n_ctx = std::min(o.n_ctx, c.n_ctx_train);
  check_kv_cache_fits(c.n_layers, n_ctx, c.n_kv_heads * c.head_dim);  // before any runtime sizes buffers by it
  return n_ctx;
}

void check_eval(std::span<const int32_t> tokens, const ModelConfig& c, int n_past, int n_ctx) {
  if (tokens.empty()) throw std::invalid_argument("eval: no tokens");
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab)
      throw std::out_of_range("token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(c.n_vocab));
  if (n_past + static_cast<int64_t>(tokens.size()) > n_ctx)
    throw std::length_error("context full: " + std::to_string(n_past) + " + " + std::to_string(tokens.size()) +
                            " tokens exceed the context of " + std::to_string(n_ctx));
}

DenseEngine::DenseEngine(std::shared_ptr<const ModelWeights> weights, EngineOptions o)
    : weights_(std::move(weights)),
      pool_(default_thread_count(o.n_threads)),
      n_ctx_(checked_context(o, weights_->config())),
      max_batch_(o.max_batch),
      n_layers_(o.max_layers > 0 ? std::min(o.max_layers, weights_->config().n_layers) : weights_->config().n_layers),
      cache_(KvCache::of_model(weights_->config(), n_ctx_, o.cache_type)),
      ws_(weights_->config(), o.max_batch, o.exact_activations) {
  ws_.set_batch_invariant(o.batch_invariant);
  const size_t n = static_cast<size_t>(max_batch_) * weights_->config().d_model;
  x_.resize(n);
  xn_.resize(n);
  y_.resize(n);
}

void DenseEngine::rewind(int n) {
  if (n < 0 || n > n_past_) throw std::out_of_range("cannot rewind to position " + std::to_string(n) + " of " + std::to_string(n_past_));
  n_past_ = n;
}

std::span<const float> DenseEngine::logits(int i) const {
  if (n_logits_ == 0) throw std::logic_error("no logits: nothing evaluated yet");
  if (i < 0) i += n_logits_;
  if (i < 0 || i >= n_logits_) throw std::out_of_range("logits index " + std::to_string(i) + " of " + std::to_string(n_logits_));
  const size_t nv = static_cast<size_t>(config().n_vocab);
  return {logits_.data() + static_cast<size_t>(i) * nv, nv};
}

void DenseEngine::eval(std::span<const int32_t> tokens, bool all_logits) {
  check_eval(tokens, config(), n_past_, n_ctx_);
  n_logits_ = 0;
  logits_.resize((all_logits ? tokens.size() : 1) * static_cast<size_t>(config().n_vocab));
  for (size_t off = 0; off < tokens.size(); off += static_cast<size_t>(max_batch_)) {
    const size_t n = std::min(tokens.size() - off, static_cast<size_t>(max_batch_));
    forward_batch(tokens.subspan(off, n), all_logits, off + n == tokens.size());
  }
}

void DenseEngine::forward_batch(std::span<const int32_t> tokens, bool keep_all, bool keep_last) {
  const ModelWeights& W = *weights_;
  const int B = static_cast<int>(tokens.size());
  const int64_t d = config().d_model;
  embed_tokens(W, tokens, x_.data());
  for (int l = 0; l < n_layers_; ++l) {
    attention_block(pool_, ws_, W, cache_, l, n_past_, B, x_.data());
    ffn_norm(W, l, x_.data(), xn_.data(), B);
    dense_ffn_residual(pool_, ws_, W, l, xn_.data(), B, x_.data());
  }
  n_past_ += B;
  if (!keep_all && !keep_last) return;
  // Output head for the tokens whose logits are kept (all of them, or the last).
  const int first = keep_all ? 0 : B - 1;
  float* dst = logits_.data() + static_cast<size_t>(n_logits_) * config().n_vocab;
  output_head(pool_, ws_, W, x_.data() + first * d, B - first, dst);
  n_logits_ += B - first;
}

}  // namespace actinfer
