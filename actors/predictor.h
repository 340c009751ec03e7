// The predictor: decides which FFN neurons of a layer fire for the step's
// tokens and sends each worker its share. `oracle` computes the real
// activations (exact: a ReLU neuron that does not fire contributes zero);
// `all` skips prediction. Trained predictors come with the sparsity issue.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "actors/neuron_split.h"
#include "model/model_weights.h"

namespace actinfer::actors {

struct PredictorArgs {
  std::shared_ptr<const ModelWeights> weights;
  std::string mode = "oracle";  // oracle | all
  std::shared_ptr<const NeuronSplit> split;  // who computes which neurons (teams in wiring order)
  int n_ctx = 0;
  bool exact_activations = false;
  bool trace = false;
};

caf::actor spawn_predictor(caf::actor_system& sys, PredictorArgs args);

}  // namespace actinfer::actors
