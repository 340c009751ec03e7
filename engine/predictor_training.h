// Training one layer's neuron predictor (engine/neuron_predictor.h) from recorded
// samples (engine/activation_samples.h).
//
// Splits, in token order: the first tokens train; the next `calibration_fraction`
// choose the decision threshold; the last `test_fraction` are held out and only measured
// (the reported recall and precision are theirs: tokens never trained or calibrated on).
//
// Model: logits = W2 . ReLU(W1 . (xn / s)) + b, trained in float. s is the per-channel
// RMS of the training inputs (so every input channel starts on the same scale; folded
// into W1 on export). Loss: binary cross-entropy per (token, neuron), a firing neuron
// weighted by `positive_weight` (a missed neuron costs accuracy, a false positive only
// time), mean over the minibatch; minibatch Adam with a cosine learning-rate decay,
// shuffled each epoch from the seed. b starts at the logit of each neuron's firing rate.
// Threads split every step's rows or columns (thread_pool.h); no locks, and the result
// does not depend on the thread count (kernels/gemm_f32.h): the same seed gives the same
// predictor.
//
// Then fc1/fc2 are quantized to Q8_0 and the decision threshold is picked with the
// quantized predictor on the calibration tokens: one shift added to every neuron's bias,
// the largest that still predicts a fraction >= target_recall of the calibration
// firings (ties and all), so the measured operating point is that of inference.
#pragma once
#include <cstdint>
#include <functional>

#include "engine/activation_samples.h"
#include "engine/neuron_predictor.h"
#include "engine/thread_pool.h"

namespace actinfer {

struct PredictorTrainOptions {
  int rank = 64;                      // a positive multiple of 32
  int epochs = 8;
  int batch = 256;                    // tokens per Adam step
  float learning_rate = 1e-2f;        // Adam's, at the start of the cosine decay
  double positive_weight = 0;         // 0: sqrt(inactive / active) of the training tokens, in [1, 10]
  double target_recall = 0.95;        // on the calibration tokens
  double calibration_fraction = 0.1;  // tokens after the training part
  double test_fraction = 0.1;         // the last tokens
  uint64_t seed = 1;
};

// How a predictor does on a range of tokens (counted over every token x neuron).
// recall = 1 when nothing fired, precision = 1 when nothing was predicted.
struct PredictionQuality {
  int64_t tokens = 0;
  int64_t true_positive = 0, false_positive = 0, false_negative = 0;
  double recall() const;
  double precision() const;
  double predicted_active(int d_ff) const;  // fraction of neurons predicted per token
  double true_active(int d_ff) const;       // fraction that fired
};

struct PredictorTrainReport {
  int64_t n_train = 0, n_calibration = 0, n_test = 0;
  double positive_weight = 0;
  double first_loss = 0, last_loss = 0;  // mean weighted loss of the first and last epoch
  float shift = 0;                       // added to the biases by the calibration
  PredictionQuality calibration;         // on the calibration tokens, after the shift
  PredictionQuality test;                // on the held-out tokens
  double seconds = 0;
};

struct TrainedPredictor {
  PredictorLayer layer;
  PredictorTrainReport report;
};

// epoch in [0, n_epochs), step in [0, n_steps) of that epoch; called after each step.
using PredictorTrainProgress = std::function<void(int epoch, int n_epochs, int64_t step, int64_t n_steps)>;

// Throws std::invalid_argument for bad options (rank, fractions, recall) or too few
// samples for the three splits.
TrainedPredictor train_predictor(ThreadPool& pool, const LayerSamples& data, const PredictorTrainOptions& o,
                                 const PredictorTrainProgress& progress = {});

// The quantized predictor's quality on tokens [begin, end) (logit >= 0 counts as active).
PredictionQuality evaluate_predictor(ThreadPool& pool, const PredictorLayer& p, const LayerSamples& data, int64_t begin, int64_t end);

// The ranks that fit: the largest multiple of 32 (at least 32, at most d_model rounded
// up to 32) with n_layers layers of predictor_layer_bytes within budget_bytes; 0 if even
// rank 32 does not fit.
int rank_for_budget(int n_layers, int d_model, int d_ff, uint64_t budget_bytes);

// Per-layer ranks within a budget, shared by difficulty: every layer starts at 32, then
// +32 goes, while it fits, to the layer with the largest difficulty / rank (so ranks end
// up roughly proportional to difficulty; equal difficulties give equal ranks, as
// rank_for_budget). Difficulty: the binary entropy of the layer's firing fraction
// (firing_entropy): a layer where half the neurons fire is harder to predict than one
// where 5% do. Empty when 32 per layer does not fit.
std::vector<int> ranks_for_budget(const std::vector<double>& difficulty, int d_model, int d_ff, uint64_t budget_bytes);
// H(p) in bits of a firing fraction p (0 at p = 0 or 1, 1 at p = 0.5).
double firing_entropy(double p);

}  // namespace actinfer
