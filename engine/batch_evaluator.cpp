#include "engine/batch_evaluator.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/dense_engine.h"

namespace actinfer {

int BatchEvaluator::check_step(std::span<const SequenceChunk> chunks) const {
  if (chunks.empty()) throw std::invalid_argument("eval: no sequences in the step");
  int total = 0;
  std::vector<bool> seen(static_cast<size_t>(n_slots()), false);
  for (const SequenceChunk& ch : chunks) {
    const int past = n_past(ch.slot);  // throws for a slot outside 0..n_slots()-1
    if (seen[static_cast<size_t>(ch.slot)]) throw std::invalid_argument("eval: slot " + std::to_string(ch.slot) + " appears twice in one step");
    seen[static_cast<size_t>(ch.slot)] = true;
    check_eval(ch.tokens, config(), past, n_ctx());
    total += static_cast<int>(ch.tokens.size());
  }
  if (total > max_step_tokens())
    throw std::length_error("eval: " + std::to_string(total) + " tokens in one step, at most " + std::to_string(max_step_tokens()));
  return total;
}

}  // namespace actinfer
