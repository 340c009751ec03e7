// How much each FFN layer's thresholded sparsity costs the model on its own: for
// every layer l and threshold t_lk, run the model with only layer l dropping, for
// each token, the neurons with |act(gate . xn) * (up . xn)| <= t_lk (every other
// layer dense) and measure, over the positions perplexity scores
// (engine/perplexity.h: full chunks of n_ctx, each from an empty cache, first
// token BOS where the model adds it, the second half of each chunk scored):
//   - the rise of the mean NLL of the text's next tokens, and
//   - the mean KL divergence KL(dense || thresholded) of the next-token
//     distributions.
// Both estimate what the sparsity costs in perplexity, but for a small change
// of the logits the NLL rise is dominated by a first-order term of zero mean and
// large variance (whether the text's token happened to gain or lose), while the
// KL is the second-order term itself, never negative: on a few thousand tokens
// the NLL rises of single layers are mostly noise, the KLs are not.
// engine/sparsity_allocation.h turns these curves into per-layer levels.
//
// The sweep runs with float activations (the exact mode of the dense engine) by
// default. With the runtime's quantized activations any change that flips one
// rounding decorrelates the quantization noise of everything after it: on
// SmolLM2 dropping the 1% smallest outputs of one layer, or 128 neurons of one
// token, already costs a KL of 0.002-0.004 (1e-10 in float), about as much as
// dropping 20%, a floor that would make every thresholded layer look costly and
// push the allocation to leave whole layers dense. That noise does not move the
// expected NLL; in float the KL is what the dropped neurons themselves cost.
//
// Cost: per chunk the dense model runs once, keeping the residual stream at every
// layer's input; a run with layer l thresholded then starts from that residual
// and recomputes only layers l..L-1 (their keys and values change, the cache of
// the layers below does not) and the output head over the scored positions. So
// (L + 1) / 2 layers plus a head per (layer, threshold) on average instead of L.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/model_weights.h"

namespace actinfer {

struct SensitivityOptions {
  int n_ctx = 512;     // chunk length (capped at the model's training context)
  int n_threads = 0;   // 0: hardware concurrency
  int max_batch = 64;  // tokens per forward step
  bool add_bos = false;
  int32_t bos = 0;
  bool exact_activations = true;  // float activations (see above); false: quantized as the runtime does
};

struct LayerSensitivity {
  int n_chunks = 0;
  int64_t n_scored = 0;
  double dense_nll = 0;                        // mean NLL of the dense model over the scored tokens
  std::vector<std::vector<double>> delta_nll;  // [layer][threshold]: mean NLL with only that layer thresholded, minus dense_nll
  std::vector<std::vector<double>> kl;         // [layer][threshold]: mean KL(dense || that) in nats
};

// thresholds[layer][k]: the thresholds to try on each layer (any number per layer).
// progress(done, total) in units of layers recomputed, after every run.
// Throws std::invalid_argument for a ReLU or ungated model (not thresholded), a
// threshold list of the wrong size, n_ctx < 3, fewer tokens than one chunk, or
// out-of-vocabulary tokens.
LayerSensitivity measure_layer_sensitivity(const ModelWeights& w, std::span<const int32_t> tokens,
                                           const std::vector<std::vector<float>>& thresholds, const SensitivityOptions& o,
                                           const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace actinfer
