// The dense engine for several sequences at once (BatchEvaluator): each slot has
// its own KV cache; one forward step runs attention per sequence and the FFN and
// the output head once over every token of the step, so each weight byte is read
// once per step however many sequences it serves.
#pragma once
#include <memory>
#include <vector>

#include "engine/batch_evaluator.h"
#include "engine/dense_engine.h"
#include "engine/kv_cache.h"
#include "engine/layer_ops.h"
#include "engine/thread_pool.h"
#include "model/model_weights.h"

namespace actinfer {

class BatchedDenseEngine final : public BatchEvaluator {
 public:
  // options.n_ctx is the context of each slot; options.max_batch the tokens of one step.
  BatchedDenseEngine(std::shared_ptr<const ModelWeights> weights, EngineOptions options, int n_slots);

  const ModelConfig& config() const override { return weights_->config(); }
  int n_slots() const override { return static_cast<int>(caches_.size()); }
  int n_ctx() const override { return n_ctx_; }
  int max_step_tokens() const override { return max_batch_; }
  int n_past(int slot) const override;
  void rewind(int slot, int n) override;
  void eval(std::span<const SequenceChunk> chunks) override;
  std::span<const float> logits(int chunk) const override;

 private:
  void check_slot(int slot) const;

  std::shared_ptr<const ModelWeights> weights_;
  ThreadPool pool_;
  int n_ctx_;
  int max_batch_;
  std::vector<KvCache> caches_;
  std::vector<int> n_past_;
  Workspace ws_;
  std::vector<float> x_, xn_, last_;  // residual and FFN input [tokens][d]; last rows [chunks][d]
  std::vector<float> logits_;         // [chunks][n_vocab]
  int n_logits_ = 0;
};

}  // namespace actinfer
