// The activation predictors PowerInfer's converter writes into its model files
// (blk.N.fc1.weight [d_model -> rank], blk.N.fc2.weight [rank -> d_ff], F16 or F32,
// rank per layer; powerinfer.sparse_threshold), as this engine's trained predictors
// (engine/neuron_predictor.h), so `run --sparse` uses them with no extra step.
//
// PowerInfer feeds its predictor the residual x before the FFN norm; ours read
// xn = s * (w (*) x) with s = 1/rms(x) > 0 and w the ffn_norm weights. Dividing fc1's
// columns by w gives fc1' . xn = s * (fc1 . x); ReLU and fc2 keep the factor s, so a
// logit keeps its sign: "logit >= 0 fires" carries over exactly. A non-zero threshold t
// becomes the bias -t, exact only where s = 1 (the file's threshold is usually 0).
// The rank is padded with zero rows to a multiple of 32 and the rows stored as Q8_0.
#pragma once
#include <optional>

#include "engine/neuron_predictor.h"
#include "model/model_weights.h"

namespace actinfer {

// nullopt when the model holds no predictor tensors; throws std::invalid_argument naming the
// problem when it holds some but not usable ones (a layer missing, wrong shapes, bad type).
std::optional<NeuronPredictors> predictors_in_model(const ModelWeights& w);

}  // namespace actinfer
