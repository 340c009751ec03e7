// The messages actinfer's actors exchange, one struct per message. Large
// payloads (activations, active sets, logits) travel as shared pointers to
// immutable data: sending one to N actors copies a pointer, never the floats.
//
// One layer of one forward step (a batch of tokens) flows like this:
//
//   driver ──EvalRequest──▶ gpu-worker            (embed, attention of layer 0)
//   gpu-worker ──FfnInput──▶ predictor            (x normalised for the FFN)
//   predictor ──FfnWork──▶ gpu-worker (hot) and every cpu-worker with work (cold)
//   predictor ──FfnExpect──▶ merge                 (how many partials to wait for)
//   gpu-worker, cpu-workers ──FfnPartial──▶ merge  (their share of the FFN output)
//   merge ──FfnOutput──▶ gpu-worker                (the sum; next layer's attention)
//   gpu-worker ──LogitsReply──▶ driver             (after the last layer)
// When the gpu-worker's backend runs trained predictors, it plays the predictor's part
// itself: no FfnInput, FfnWork only to the cpu-workers (protocol/README.md).
//
// `step` numbers forward steps so stray messages of an old step are detectable;
// `sent_ns` is the sender's clock at send time, so the receiver can trace the
// message's flight. See protocol/README.md for the same in prose.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "caf/allowed_unsafe_message_type.hpp"
#include "protocol/predictor_stats.h"

namespace actinfer::protocol {

// A [n_tokens][width] float matrix for one layer of a forward step.
struct Activation {
  int layer = 0;
  int n_tokens = 0;
  int width = 0;
  std::vector<float> data;
  const float* row(int t) const { return data.data() + static_cast<size_t>(t) * width; }
};
using ActivationPtr = std::shared_ptr<const Activation>;

// Which neurons of a layer fire for the step's tokens.
//  flags: one per neuron, set when it fires for any token of the batch (what the
//         dense kernels mask with); empty: every neuron (no prediction).
//  per_token: with sparse kernels, each token's own increasing list of active
//         neurons (a batch computes every token with its own set, exactly as
//         decode would); empty without sparse kernels.
struct ActiveSet {
  int layer = 0;
  std::vector<uint8_t> flags;
  std::vector<std::vector<int32_t>> per_token;
  int64_t n_active = 0;  // neurons set in flags
};
using ActiveSetPtr = std::shared_ptr<const ActiveSet>;

// driver → gpu-worker (request): evaluate tokens at positions pos0...
struct EvalRequest {
  uint64_t step = 0;
  std::vector<int32_t> tokens;
  int pos0 = 0;
  bool all_logits = false;
};

// gpu-worker → driver (reply to EvalRequest): [n_rows][n_vocab] logits.
struct LogitsReply {
  uint64_t step = 0;
  int n_rows = 0;
  std::shared_ptr<const std::vector<float>> logits;
};

// gpu-worker → predictor: the normalised FFN input of a layer.
struct FfnInput {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;  // position of the step's first token (for traces)
  ActivationPtr xn;
  int64_t sent_ns = 0;
};

// predictor → workers: compute your neurons of this layer that are active.
struct FfnWork {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;  // position of the step's first token (for traces)
  int n_parts = 0;  // how many workers got work for this layer (passed on to merge)
  ActivationPtr xn;
  ActiveSetPtr active;
  int64_t sent_ns = 0;
};

// predictor → merge, only when no worker has work for a layer (no neuron fires):
// the layer's FFN output is zero. (Otherwise each FfnPartial says how many to expect.)
struct FfnExpect {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;  // position of the step's first token (for traces)
  int n_parts = 0;
  int n_tokens = 0;
  int64_t sent_ns = 0;
};

// worker → merge: one worker's share of a layer's FFN output.
struct FfnPartial {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;  // position of the step's first token (for traces)
  int n_parts = 0;  // partials that make up this layer (from FfnWork)
  int worker = 0;  // 0: the gpu-worker, 1..: cpu-worker teams
  ActivationPtr y;
  uint64_t weight_bytes = 0;  // FFN weight bytes this worker read (sparse kernels; 0 otherwise)
  int64_t sent_ns = 0;
};

// merge → gpu-worker: the layer's FFN output, summed over workers.
struct FfnOutput {
  uint64_t step = 0;
  int layer = 0;
  int token = 0;  // position of the step's first token (for traces)
  ActivationPtr y;
  int64_t sent_ns = 0;
};

// A compute team finished the job an actor posted (sent by the team's thread,
// with the job's own timing so the actor can trace it without sharing a buffer).
struct JobDone {
  uint64_t step = 0;
  int layer = 0;
  int kind = 0;  // actor-specific
  ActivationPtr out;
  uint64_t weight_bytes = 0;  // what the job read (sparse kernels)
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

// driver → every actor (request): hand over your trace buffer (at shutdown).
struct CollectTrace {};

// driver → predictor (request): your PredictorStats; reset them when `reset`.
struct CollectStats {
  bool reset = false;
};

}  // namespace actinfer::protocol

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::EvalRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::LogitsReply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::FfnInput)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::FfnWork)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::FfnExpect)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::FfnPartial)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::FfnOutput)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::JobDone)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::CollectTrace)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::PredictorStats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::CollectStats)
