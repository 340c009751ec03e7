// The predictor actor: decides which FFN neurons of a layer fire for each token of
// the step, on request of the gpu-worker, when the gpu-worker cannot decide itself:
//   threshold: |act(gate . xn) * (up . xn)| > the layer's threshold (from a profile:
//              magnitude sparsity of SwiGLU models; ReLU: act(gate . xn) > 0).
//   trained:   the per-layer low-rank MLP predictors (engine/neuron_predictor.h), with
//              check_truth: also the true set next to each prediction, to measure
//              recall (PredictorStats). (Without recall checks the gpu-worker's backend
//              runs the trained predictors itself.)
// `all` and `oracle` need no predictor actor: every neuron is computed, and on ReLU
// models the FFN's own gate pass skips the neurons that do not fire (sparse kernels).
// With sparse kernels each token gets its own list; otherwise the batch's union.
#pragma once
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "config/modes.h"
#include "engine/neuron_predictor.h"
#include "model/model_weights.h"
#include "protocol/wiring.h"

namespace actinfer::actors {

struct PredictorArgs {
  std::shared_ptr<const ModelWeights> weights;
  PredictorMode mode = PredictorMode::threshold;  // threshold or trained
  bool sparse = false;          // send per-token lists (sparse kernels)
  int sparse_dense_crossover = std::numeric_limits<int>::max();  // steps of more tokens go dense (sparse_step)
  std::vector<float> thresholds;  // per layer (threshold mode, and the truth of non-ReLU models)
  std::shared_ptr<const NeuronPredictors> predictors;  // trained mode
  bool check_truth = false;
  int threads = 1;               // its own pool (its neighbours are idle while it predicts)
  int max_batch = 64;
  bool exact_activations = false;
  bool batch_invariant = false;  // no tiled GEMM: a row's result does not depend on the batch (serve)
  bool trace = false;
};

// Throws std::invalid_argument for an unknown mode or missing thresholds/predictors.
void check_predictor_args(const PredictorArgs& args);
protocol::PredictorActor spawn_predictor(caf::actor_system& sys, PredictorArgs args);

}  // namespace actinfer::actors
