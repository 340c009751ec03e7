// Recording the training data of the neuron predictors: the model run densely over a
// text exactly as the profiler runs it (engine/profiler.h: chunks of n_ctx from an empty
// cache, batches, activations quantized as the runtime does), keeping for every layer
// and token the normalised FFN input xn and the neurons that fired, by the profiler's
// rule: ReLU models a > 0; other activations |a| > the layer's threshold.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/activation_samples.h"
#include "engine/profiler.h"
#include "model/model_weights.h"

namespace actinfer {

struct ActivationRecording {
  std::vector<LayerSamples> layers;
  std::vector<float> thresholds;  // [layer]; 0 for ReLU (fires when a > 0)
};

// thresholds: one per layer for non-ReLU models (calibrate_thresholds or a profile
// file); ignored for ReLU models. Throws std::invalid_argument for a wrong count and as
// observe_activations does.
ActivationRecording record_activations(const ModelWeights& w, std::span<const int32_t> tokens, const std::vector<float>& thresholds,
                                       const ProfileOptions& o, const std::function<void(int chunk, int n_chunks)>& progress = {});

}  // namespace actinfer
