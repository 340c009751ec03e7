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
//
// How the target is shared between layers (non-ReLU): `uniform` calibrates every
// layer to target_sparsity; `sensitivity` measures, on the first allocate_tokens
// tokens, what thresholding each layer alone at each of sweep_levels costs
// (engine/layer_sensitivity.h: by default the KL divergence from the dense
// model's next-token distributions, in float; thresholds read from the samples
// of the first pass), then gives each layer the level that minimises the summed
// cost with the mean over layers still target_sparsity
// (engine/sparsity_allocation.h; TEAL's per-layer allocation). The counting pass
// then runs with those thresholds.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/layer_sensitivity.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace actinfer {

enum class SparsityAllocation { Uniform, Sensitivity };
std::string_view allocation_name(SparsityAllocation a);
std::optional<SparsityAllocation> parse_allocation(std::string_view name);  // "uniform" | "sensitivity"
// What a sensitivity allocation minimises (summed over layers): the mean KL from
// the dense model, or the mean NLL rise (noisier: engine/layer_sensitivity.h).
enum class SensitivityMetric { KL, NLL };
std::string_view metric_name(SensitivityMetric m);
std::optional<SensitivityMetric> parse_metric(std::string_view name);  // "kl" | "nll"

struct ActivationProfile {
  int64_t n_tokens = 0;
  Activation activation = Activation::ReLU;
  double target_sparsity = 0;     // 0 for ReLU (not calibrated); the mean over layers
  std::vector<float> thresholds;  // [layer]; 0 for ReLU (fires when a > 0)
  std::vector<std::vector<uint32_t>> fired;  // [layer][neuron]: tokens it fired for
  SparsityAllocation allocation = SparsityAllocation::Uniform;
  std::vector<double> layer_targets;  // [layer]: the sparsity its threshold was calibrated to (non-ReLU; empty for ReLU)

  // The sensitivity sweep behind a `sensitivity` allocation (not stored in the file;
  // empty otherwise): the levels tried and what each cost each layer alone.
  std::vector<double> sweep_levels;
  LayerSensitivity sweep;

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
  // Non-ReLU models: how target_sparsity is shared between layers (see above).
  SparsityAllocation allocation = SparsityAllocation::Uniform;
  int64_t allocate_tokens = 2048;  // sensitivity: tokens swept (the first ones; whole chunks of n_ctx)
  SensitivityMetric metric = SensitivityMetric::KL;
  std::vector<double> sweep_levels = {0.2, 0.35, 0.5, 0.65, 0.8, 0.9};
  double allocation_step = 0.01;  // granularity of the per-layer levels
};

// pass: 1 calibration, 2 counting (ReLU models: only pass 2, n_passes 1); with a
// sensitivity allocation 1 calibration, 2 the sweep, 3 counting (n_passes 3).
// Called after every chunk (the sweep: after every run, `chunk` counting the
// layers recomputed so far of `n_chunks`).
using ProfileProgress = std::function<void(int pass, int n_passes, int chunk, int n_chunks)>;

// Throws std::invalid_argument for no tokens, out-of-vocabulary tokens, n_ctx < 1,
// target_sparsity outside [0, 1) for a non-ReLU model, or (sensitivity) fewer
// than one chunk of n_ctx >= 3 tokens to sweep or a target above the largest
// sweep level.
ActivationProfile profile_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                      const ProfileProgress& progress = {});

// What the profiler and the predictor recorder see: the model run over the tokens
// chunk by chunk as described above; on_act(layer, xn[d_model], a[d_ff]) for every
// layer and token (xn: the normalised FFN input; a: the activations). Throws as
// profile_activations does for bad tokens or options.
using ActivationObserver = std::function<void(int layer, const float* xn, const float* a)>;
void observe_activations(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                         const ActivationObserver& on_act, const std::function<void(int chunk, int n_chunks)>& progress = {});

// Samples of |a| per layer (a bounded uniform reservoir over tokens x neurons,
// ProfileOptions::reservoir_size and seed), sorted: the threshold for any sparsity
// s is their s-quantile.
class MagnitudeSamples {
 public:
  explicit MagnitudeSamples(std::vector<std::vector<float>> per_layer);  // sorts them
  int n_layers() const { return static_cast<int>(sorted_.size()); }
  // The k-th smallest sample with k = floor(s * n): about a fraction s of the
  // samples is <= it (0 for s = 0: every nonzero activation fires).
  float threshold(int layer, double sparsity) const;

 private:
  std::vector<std::vector<float>> sorted_;
};
MagnitudeSamples sample_magnitudes(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                   const std::function<void(int chunk, int n_chunks)>& progress = {});

// The building blocks: calibrated thresholds (the target_sparsity-quantile of
// |a| per layer), and counts with given thresholds (ReLU: a > 0; thresholds
// ignored), e.g. to measure the sparsity of thresholds on held-out tokens.
std::vector<float> calibrate_thresholds(const ModelWeights& w, std::span<const int32_t> tokens, const ProfileOptions& o,
                                        const std::function<void(int chunk, int n_chunks)>& progress = {});
ActivationProfile count_activations(const ModelWeights& w, std::span<const int32_t> tokens, const std::vector<float>& thresholds,
                                    const ProfileOptions& o, const std::function<void(int chunk, int n_chunks)>& progress = {});

}  // namespace actinfer
