// The activation profiler: how often each FFN neuron fires over a calibration
// text (the input of the `plan` step, which puts the hottest neurons on the GPU).
//
// The tokens are cut into chunks of n_ctx (the last, shorter remainder is a
// chunk too), each evaluated from an empty cache, its first token replaced by
// BOS where the model adds BOS (as engine/perplexity.h does). For every layer
// and token the activity a_i of every neuron is observed (ffn_neuron_activity,
// activations quantized as the runtime does): ReLU models act(gate_i . xn);
// others the neuron's output act(gate_i . xn) * (up_i . xn).
// A neuron fires for a token when
//   - ReLU models: a_i > 0 (the exact zeros of the sparse runtime);
//   - other activations: |a_i| > the layer's threshold, calibrated so that a
//     fraction `target_sparsity` of the layer's activations fall at or below it.
// Calibration (non-ReLU) is a first pass over the same tokens: a bounded
// reservoir sample of |a| per layer (uniform over all tokens x neurons), whose
// target_sparsity-quantile is the threshold; a second pass then counts with
// those thresholds, so the counts are exact for the thresholds used. (Two
// passes cost twice the time but need memory independent of the text length.)
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "model/model_weights.h"

namespace actinfer {

struct ActivationProfile {
  int64_t n_tokens = 0;
  Activation activation = Activation::ReLU;
  double target_sparsity = 0;     // 0 for ReLU (not calibrated)
  std::vector<float> thresholds;  // [layer]; 0 for ReLU (fires when a > 0)
  std::vector<std::vector<uint32_t>> fired;  // [layer][neuron]: tokens it fired for

  // Fraction of (token, neuron) activations that did not fire, over all layers.
  double mean_sparsity() const;
  // The same for one layer.
  double layer_sparsity(int layer) const;
  // Share of the layer's firings taken by its hottest `fraction` of neurons.
  double hot_share(int layer, double fraction) const;
};

struct ProfileOptions {
  int n_ctx = 512;               // chunk length (capped at the model's training context)
  int n_threads = 0;             // 0: hardware concurrency
  int max_batch = 64;            // tokens per forward step
  double target_sparsity = 0.5;  // non-ReLU models: the calibrated fraction of inactive activations
  bool add_bos = false;          // replace each chunk's first token by bos
  int32_t bos = 0;
  int64_t reservoir_size = 1 << 18;  // samples of |a| kept per layer for calibration
  uint64_t seed = 1;                 // reservoir sampling
};

// pass: 1 calibration, 2 counting (ReLU models: only pass 2, n_passes 1);
// called after every chunk.
using ProfileProgress = std::function<void(int pass, int n_passes, int chunk, int n_chunks)>;

// Throws std::invalid_argument for no tokens, out-of-vocabulary tokens, n_ctx < 1,
// or target_sparsity outside [0, 1) for a non-ReLU model.
ActivationProfile profile_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                      const ProfileProgress& progress = {});

// What the profiler and the predictor recorder see: the model run over the tokens
// chunk by chunk as described above; on_act(layer, xn[d_model], a[d_ff]) for every
// layer and token (xn: the normalised FFN input; a: the activations). Throws as
// profile_activations does for bad tokens or options.
using ActivationObserver = std::function<void(int layer, const float* xn, const float* a)>;
void observe_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                         const ActivationObserver& on_act, const std::function<void(int chunk, int n_chunks)>& progress = {});

// The building blocks: calibrated thresholds (the target_sparsity-quantile of
// |a| per layer), and counts with given thresholds (ReLU: a > 0; thresholds
// ignored), e.g. to measure the sparsity of thresholds on held-out tokens.
std::vector<float> calibrate_thresholds(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                        const std::function<void(int chunk, int n_chunks)>& progress = {});
ActivationProfile count_activations(const ModelWeights& w, std::span<const int32_t> tokens, const std::vector<float>& thresholds,
                                    const ProfileOptions& o, const std::function<void(int chunk, int n_chunks)>& progress = {});

}  // namespace actinfer
