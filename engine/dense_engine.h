// The dense reference engine: a multithreaded CPU forward pass over every
// neuron, with a KV cache. The actor runtime must reproduce its logits.
#pragma once
#include <memory>
#include <vector>

#include "engine/evaluator.h"
#include "engine/kv_cache.h"
#include "engine/layer_ops.h"
#include "engine/thread_pool.h"
#include "model/model_weights.h"

namespace actinfer {

struct EngineOptions {
  int n_threads = 0;  // 0: hardware concurrency
  int n_ctx = 2048;   // KV cache length (capped at the model's training context)
  int max_batch = 64;  // tokens per forward step of a long prompt
  int max_layers = 0;  // 0: all; K: only the first K blocks (to check a model layer by layer)
  // Keep activations in float and dequantize weight rows (slow); by default activations
  // are quantized to the weights' dot-product type, as llama.cpp does.
  bool exact_activations = false;
  KvCacheType cache_type = KvCacheType::F16;  // --cache-type: F16 halves the KV cache
  // No tiled GEMM for prompt batches: each token's logits are then the same bits as when it
  // is evaluated alone or in a server's step beside other sequences (slower prefill).
  bool batch_invariant = false;
};

// Checks options against the model; returns the context length to use.
int checked_context(const EngineOptions& options, const ModelConfig& c);
// Throws when tokens are out of the vocabulary or would overflow the context.
void check_eval(std::span<const int32_t> tokens, const ModelConfig& c, int n_past, int n_ctx);
int default_thread_count(int requested);

class DenseEngine final : public Evaluator {
 public:
  DenseEngine(std::shared_ptr<const ModelWeights> weights, EngineOptions options);

  const ModelConfig& config() const override { return weights_->config(); }
  void eval(std::span<const int32_t> tokens, bool all_logits) override;
  std::span<const float> logits(int i = -1) const override;
  int n_past() const override { return n_past_; }
  int n_ctx() const override { return n_ctx_; }
  void rewind(int n) override;
  int n_threads() const { return pool_.size(); }

 private:
  void forward_batch(std::span<const int32_t> tokens, bool keep_all, bool keep_last);

  std::shared_ptr<const ModelWeights> weights_;
  ThreadPool pool_;
  int n_ctx_;
  int max_batch_;
  int n_layers_;  // blocks evaluated
  int n_past_ = 0;
  KvCache cache_;
  Workspace ws_;
  std::vector<float> x_, xn_, y_;  // residual, normalised FFN input, FFN output: [B][d]
  std::vector<float> logits_;       // [n_kept][n_vocab]
  int n_logits_ = 0;
};

}  // namespace actinfer
