// What a server's scheduler needs from a runtime: several sequences, each in its
// own slot of the KV cache, advanced together by one forward step. A step carries
// a chunk of tokens per sequence (one for decoding, several for a prompt); every
// chunk is appended at its slot's position, and the logits of each chunk's last
// token are kept.
//
// Batching must not change results: a sequence's logits are the same whatever the
// other sequences of the step (the FFN and the output head are computed row by row).
#pragma once
#include <cstdint>
#include <span>

#include "model/model_config.h"

namespace actinfer {

struct SequenceChunk {
  int slot = 0;
  std::span<const int32_t> tokens;
};

class BatchEvaluator {
 public:
  virtual ~BatchEvaluator() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int n_slots() const = 0;
  virtual int n_ctx() const = 0;  // positions per slot
  // Most tokens one eval() may carry in total (prompts longer than that go in chunks).
  virtual int max_step_tokens() const = 0;
  virtual int n_past(int slot) const = 0;
  // Forgets the slot's cache from position n on (0: a new sequence).
  virtual void rewind(int slot, int n) = 0;
  // One forward step over the chunks (at most one per slot, none empty). Throws
  // std::invalid_argument / std::length_error naming the chunk that does not fit.
  virtual void eval(std::span<const SequenceChunk> chunks) = 0;
  // Logits of chunk i's last token from the last eval().
  virtual std::span<const float> logits(int chunk) const = 0;

 protected:
  // The checks every eval() makes first: chunks present, each slot valid and once, each
  // chunk fitting its slot's context, at most max_step_tokens() in all. Returns the total.
  int check_step(std::span<const SequenceChunk> chunks) const;
};

}  // namespace actinfer
