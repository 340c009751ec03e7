// What the token loop needs from any runtime (the dense reference engine, the
// actor runtime): feed tokens, read logits, manage the KV cache position.
#pragma once
#include <cstdint>
#include <span>

#include "model/model_config.h"

namespace actinfer {

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual const ModelConfig& config() const = 0;
  // Evaluates `tokens` at positions n_past() .. n_past()+size-1 and appends them
  // to the cache. With all_logits every position's logits are kept, else the last.
  virtual void eval(std::span<const int32_t> tokens, bool all_logits) = 0;
  // Logits of the i-th token of the last eval (-1: its last token).
  virtual std::span<const float> logits(int i = -1) const = 0;
  virtual int n_past() const = 0;
  virtual int n_ctx() const = 0;
  // Forgets cache entries from position n on (0 resets the sequence).
  virtual void rewind(int n) = 0;
};

}  // namespace actinfer
