// The predictor: decides which FFN neurons of a layer fire for each token of
// the step and sends each worker its share.
//   all:       no prediction; every neuron (the dense runtime).
//   oracle:    the real activations: ReLU neurons with act(gate . xn) > 0 (exact:
//              a ReLU neuron that does not fire contributes zero); other
//              activations have no exact zeros, so every neuron.
//   threshold: |act(gate . xn) * (up . xn)| > the layer's threshold (from a profile:
//              magnitude sparsity of SwiGLU models; ReLU: act(gate . xn) > 0 = oracle).
//   trained:   the per-layer low-rank MLP predictors (engine/neuron_predictor.h).
// With sparse kernels each token gets its own list; otherwise the batch's union.
// oracle computes the whole gate projection, threshold gate and up; trained predictors read
// only their own small weights. check_truth also computes the true set next to a
// trained prediction, to measure recall (PredictorStats).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "actors/neuron_split.h"
#include "engine/neuron_predictor.h"
#include "model/model_weights.h"

namespace actinfer::actors {

struct PredictorArgs {
  std::shared_ptr<const ModelWeights> weights;
  std::string mode = "oracle";  // all | oracle | threshold | trained
  std::shared_ptr<const NeuronSplit> split;  // who computes which neurons (teams in wiring order)
  bool sparse = false;          // send per-token lists (sparse kernels)
  std::vector<float> thresholds;  // per layer (threshold mode, and the truth of non-ReLU models)
  std::shared_ptr<const NeuronPredictors> predictors;  // trained mode
  bool check_truth = false;
  int threads = 1;               // its own pool (its neighbours are idle while it predicts)
  int max_batch = 64;
  int n_ctx = 0;
  bool exact_activations = false;
  bool trace = false;
};

// Throws std::invalid_argument for an unknown mode or missing thresholds/predictors.
void check_predictor_args(const PredictorArgs& args);
caf::actor spawn_predictor(caf::actor_system& sys, PredictorArgs args);

}  // namespace actinfer::actors
