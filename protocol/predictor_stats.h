// The predictor's counts (plain data, no CAF): how many neurons it sent to be
// computed, and how many of the truly firing ones it caught.
#pragma once
#include <cstdint>

namespace actinfer::protocol {

// What the predictor decided since the last reset (sums over tokens x layers), and
// what the workers read for it (merge's count, added by the runtime).
struct PredictorStats {
  int64_t token_layers = 0;    // (token, layer) predictions made
  int64_t predicted = 0;       // neurons predicted active, summed over them
  int64_t neurons = 0;         // neurons per layer x token_layers (the dense count)
  int64_t truth_checked = 0;   // (token, layer) pairs whose true set was also computed
  int64_t truly_active = 0;    // neurons that really fire, over the checked pairs
  int64_t hits = 0;            // of those, predicted active
  int64_t predict_ns = 0;      // time spent predicting
  uint64_t predictor_bytes = 0;  // predictor weight bytes read per token (all layers)
  uint64_t ffn_weight_bytes = 0;  // FFN weight bytes the workers read (sparse kernels; counted by merge, and by
                                  // the gpu-worker for the layers it computes alone)
  // Sums of two periods (the predictor's size is not a count: the latest is kept).
  PredictorStats& operator+=(const PredictorStats& b) {
    token_layers += b.token_layers;
    predicted += b.predicted;
    neurons += b.neurons;
    truth_checked += b.truth_checked;
    truly_active += b.truly_active;
    hits += b.hits;
    predict_ns += b.predict_ns;
    predictor_bytes = b.predictor_bytes;
    ffn_weight_bytes += b.ffn_weight_bytes;
    return *this;
  }
  double fraction_computed() const { return neurons ? static_cast<double>(predicted) / static_cast<double>(neurons) : 1.0; }
  double recall() const { return truly_active ? static_cast<double>(hits) / static_cast<double>(truly_active) : 1.0; }
};

}  // namespace actinfer::protocol
