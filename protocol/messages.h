// The messages actinfer's actors exchange, one struct per message, each with an
// `inspect` overload (so CAF can serialise it, e.g. to a team in another process)
// and a CAF type id (protocol/type_ids.h). Large payloads (tensors, active sets,
// logits) travel as shared pointers to immutable data: sending one to N actors
// copies a pointer, never the floats; serialising one writes the pointee.
//
// One layer of one forward step (a batch of tokens); the gpu-worker owns the layer:
//
//   driver ──EvalRequest──▶ gpu-worker             (embed; attention of layer 0, per sequence)
//   gpu-worker ──FfnInput──▶ predictor ──FfnPrediction──▶ gpu-worker
//                                                  (threshold, or trained with recall checks)
//   gpu-worker ──FfnWork──▶ each cpu-worker with work   (then computes its hot share
//                                                  and adds it to the residual itself)
//   one cpu-worker with work:   cpu-worker ──FfnPartial──▶ gpu-worker
//   two or more:                cpu-workers ──FfnPartial──▶ merge ──FfnOutput──▶ gpu-worker
//   gpu-worker ──LogitsReply──▶ driver             (after the last layer)
//
// When the gpu-worker holds the whole layer and predicts nothing (or its backend
// predicts), a layer sends no message at all. protocol/README.md says the same in prose.
//
// `step` numbers forward steps and `layer` the layer: the gpu-worker drops (and
// counts) any FfnPrediction, FfnPartial or FfnOutput not of the layer it waits for.
// `sent_ns` is the sender's clock at send time, so the receiver can trace the
// message's flight.
#pragma once
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "caf/meta/type_name.hpp"
#include "engine/step_sequence.h"
#include "protocol/predictor_stats.h"

namespace actinfer {
// Beside its type (argument-dependent lookup finds it there), not in protocol.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepSequence& x) {
  return f(caf::meta::type_name("StepSequence"), x.slot, x.pos0, x.n_tokens);
}
}  // namespace actinfer

namespace actinfer::protocol {

// A [n_tokens][width] float matrix for one layer of a forward step.
struct Tensor {
  int layer = 0;
  int n_tokens = 0;
  int width = 0;
  std::vector<float> data;
  const float* row(int t) const { return data.data() + static_cast<size_t>(t) * width; }
};
using TensorPtr = std::shared_ptr<const Tensor>;

// Which neurons of a layer to compute for the step's tokens.
//  flags: one per neuron, set when it fires for any token of the batch (what the
//         dense kernels mask with); empty: every neuron (no prediction).
//  per_token: with sparse kernels, each token's own increasing list of active
//         neurons (a batch computes every token with its own set, exactly as
//         decode would); empty without sparse kernels.
struct ActiveSet {
  std::vector<uint8_t> flags;
  std::vector<std::vector<int32_t>> per_token;
};
using ActiveSetPtr = std::shared_ptr<const ActiveSet>;

// driver → gpu-worker (request): one forward step of one or more sequences, each in its
// own KV cache slot. `tokens` holds every sequence's tokens, one sequence after another,
// in the order of `sequences` (their n_tokens sum to tokens.size()). Attention runs per
// sequence; the FFN and every message of the layer carry all the step's rows at once.
struct EvalRequest {
  uint64_t step = 0;
  std::vector<int32_t> tokens;
  std::vector<StepSequence> sequences;
  bool all_logits = false;  // every row's logits; else each sequence's last row's
  int first_position() const { return sequences.empty() ? 0 : sequences.front().pos0; }  // for traces
};

// gpu-worker → driver (reply to EvalRequest): logits [rows][n_vocab]: every row of the step
// (all_logits), else the last row of each sequence, in the request's order.
struct LogitsReply {
  uint64_t step = 0;
  TensorPtr logits;
  uint64_t stray = 0;  // messages of another step or layer the gpu-worker dropped so far
};

// gpu-worker → predictor (request): the normalised FFN input of a layer.
struct FfnInput {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;  // position of the step's first token (for traces)
  TensorPtr xn;
  int64_t sent_ns = 0;
};

// predictor → gpu-worker (reply to FfnInput): the layer's active neurons.
struct FfnPrediction {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;
  ActiveSetPtr active;
  int64_t sent_ns = 0;
};

// gpu-worker → each cpu-worker with work: compute your active neurons of this layer.
struct FfnWork {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;    // position of the step's first token (for traces)
  int n_parts = 0;  // cpu-workers with work in this layer: 1 → reply to the gpu-worker, 2+ → to merge
  TensorPtr xn;
  ActiveSetPtr active;
  int64_t sent_ns = 0;
};

// cpu-worker → gpu-worker (the only one with work) or merge: its share of the FFN output.
struct FfnPartial {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;
  int n_parts = 0;  // partials that make up this layer (from FfnWork)
  int worker = 0;   // 1..: cpu-worker teams
  TensorPtr y;
  uint64_t weight_bytes = 0;  // FFN weight bytes this worker read (sparse kernels; 0 otherwise)
  int64_t sent_ns = 0;
};

// merge → gpu-worker: the cold partials of a layer, summed.
struct FfnOutput {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;
  TensorPtr y;
  uint64_t weight_bytes = 0;  // summed over the partials
  int64_t sent_ns = 0;
};

// A cpu-worker's team finished the job its actor posted (sent by the team's thread
// to the actor, with the job's own timing so the actor can trace it).
struct JobDone {
  uint64_t step = 0;
  int layer = 0;
  TensorPtr out;
  uint64_t weight_bytes = 0;  // what the job read (sparse kernels)
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

// driver → every actor (request): hand over your trace spans (at the end).
struct CollectTrace {};

// driver → gpu-worker and predictor (request): your PredictorStats; reset them when `reset`.
struct CollectStats {
  bool reset = false;
};

// Serialises a shared immutable payload by value: a presence flag, then the pointee.
// Loading makes a fresh object (the sender's sharing does not cross a process).
template <class Inspector, class T>
typename Inspector::result_type inspect_shared(Inspector& f, std::shared_ptr<const T>& x) {
  if constexpr (std::is_void_v<typename Inspector::result_type>) {  // to_string: the pointee or null
    if (x) f(const_cast<T&>(*x));  // only read
    else f(caf::meta::type_name("null"));
  } else if constexpr (Inspector::reads_state) {
    bool present = x != nullptr;
    if (auto err = f(present); err || !present) return err;
    return f(const_cast<T&>(*x));  // only read: serialising does not modify the pointee
  } else {
    bool present = false;
    if (auto err = f(present); err || !present) {
      x = nullptr;
      return err;
    }
    T value;
    auto err = f(value);
    x = std::make_shared<const T>(std::move(value));
    return err;
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Tensor& x) {
  return f(caf::meta::type_name("Tensor"), x.layer, x.n_tokens, x.width, x.data);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TensorPtr& x) {
  return inspect_shared(f, x);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ActiveSet& x) {
  return f(caf::meta::type_name("ActiveSet"), x.flags, x.per_token);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ActiveSetPtr& x) {
  return inspect_shared(f, x);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, EvalRequest& x) {
  return f(caf::meta::type_name("EvalRequest"), x.step, x.tokens, x.sequences, x.all_logits);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, LogitsReply& x) {
  return f(caf::meta::type_name("LogitsReply"), x.step, x.logits, x.stray);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FfnInput& x) {
  return f(caf::meta::type_name("FfnInput"), x.step, x.layer, x.token, x.xn, x.sent_ns);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FfnPrediction& x) {
  return f(caf::meta::type_name("FfnPrediction"), x.step, x.layer, x.token, x.active, x.sent_ns);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FfnWork& x) {
  return f(caf::meta::type_name("FfnWork"), x.step, x.layer, x.token, x.n_parts, x.xn, x.active, x.sent_ns);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FfnPartial& x) {
  return f(caf::meta::type_name("FfnPartial"), x.step, x.layer, x.token, x.n_parts, x.worker, x.y, x.weight_bytes, x.sent_ns);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FfnOutput& x) {
  return f(caf::meta::type_name("FfnOutput"), x.step, x.layer, x.token, x.y, x.weight_bytes, x.sent_ns);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JobDone& x) {
  return f(caf::meta::type_name("JobDone"), x.step, x.layer, x.out, x.weight_bytes, x.start_ns, x.end_ns);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CollectTrace&) {
  return f(caf::meta::type_name("CollectTrace"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CollectStats& x) {
  return f(caf::meta::type_name("CollectStats"), x.reset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PredictorStats& x) {
  return f(caf::meta::type_name("PredictorStats"), x.token_layers, x.predicted, x.neurons, x.truth_checked, x.truly_active, x.hits,
           x.predict_ns, x.predictor_bytes, x.ffn_weight_bytes);
}

}  // namespace actinfer::protocol
