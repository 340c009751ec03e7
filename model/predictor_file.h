// Trained neuron predictors (engine/neuron_predictor.h) as a GGUF side file, in the
// style of model/profile_file.h and PowerInfer's predictor tensors:
//   general.architecture = "actinfer-predictor" (the kind marker)
//   actinfer.predictor.{block_count, embedding_length, feed_forward_length}  the model's shape
//   actinfer.predictor.activation      the model's FFN activation (what "fires" means)
//   actinfer.predictor.input           "ffn_norm" (the predictors read the normalised FFN input)
//   actinfer.predictor.target_recall   the recall the decision thresholds were chosen for
//   actinfer.predictor.{threshold, recall, precision, predicted_active, true_active}
//                                      F32 arrays [block_count]: the firing threshold on |a|
//                                      used per layer and the held-out measurements
//   blk.N.fc1.weight  Q8_0 [rank][d_model]    blk.N.fc2.weight  Q8_0 [d_ff][rank]
//   blk.N.fc2.bias    F32 [d_ff]
#pragma once
#include <filesystem>

#include "engine/neuron_predictor.h"
#include "model/model_config.h"

namespace actinfer {

// Throws std::invalid_argument naming the file and the problem (missing, not a GGUF or
// not a predictor file, truncated, another model's shape or activation, bad tensor).
NeuronPredictors read_predictor_file(const std::filesystem::path& path, const ModelConfig& model);
void write_predictor_file(const std::filesystem::path& path, const NeuronPredictors& predictors);

}  // namespace actinfer
