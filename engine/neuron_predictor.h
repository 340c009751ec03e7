// Trained activation predictors: per FFN layer a low-rank MLP that says which
// neurons will fire for a token, so the sparse FFN computes only those.
//
// Layer form (PowerInfer's, plus a per-neuron bias):
//   logits = fc2 . ReLU(fc1 . xn) + bias,   neuron i predicted active when logits[i] >= 0
// fc1: [rank][d_model], fc2: [d_ff][rank], both Q8_0 (rank a multiple of 32); bias F32.
// The input xn is the layer's normalised FFN input (the output of ffn_norm). The bias
// carries the decision threshold chosen at training time for the target recall.
//
// Inference quantizes xn to Q8_0 once, dots it with the fc1 rows, quantizes the hidden
// ReLU to Q8_0 and dots it with the fc2 rows (kernels/vec_dot.h): single-threaded, no
// allocation once the scratch has grown. The file format is model/predictor_file.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "engine/thread_pool.h"
#include "model/model_config.h"

namespace actinfer {

// Reusable buffers for one thread's predictions.
struct PredictorScratch {
  std::vector<std::byte> xq;  // xn as Q8_0
  std::vector<float> hidden;  // ReLU(fc1 . xn)
  std::vector<std::byte> hq;  // hidden as Q8_0
  std::vector<float> logits;  // [d_ff]
  std::vector<std::vector<int32_t>> fired;  // per thread: the firing neurons of its rows
};

// One layer's weights, already quantized.
struct PredictorLayer {
  int d_model = 0, d_ff = 0, rank = 0;
  std::vector<std::byte> fc1;  // Q8_0 rows [rank][d_model]
  std::vector<std::byte> fc2;  // Q8_0 rows [d_ff][rank]
  std::vector<float> bias;     // [d_ff]

  // Throws std::invalid_argument when the sizes do not fit the shape.
  void check() const;
  size_t bytes() const { return fc1.size() + fc2.size() + bias.size() * sizeof(float); }
  // out[d_ff] = the logits for xn[d_model].
  void logits(const float* xn, float* out, PredictorScratch& scratch) const;
};

// What training measured, kept in the file for reports (NaN where unknown).
struct PredictorLayerInfo {
  float threshold = 0;          // |a| > threshold counted as firing (0 and a > 0 for ReLU)
  float recall = 0;             // on held-out tokens
  float precision = 0;
  float predicted_active = 0;   // fraction of neurons predicted active per token
  float true_active = 0;        // fraction that fired
};

class NeuronPredictors {
 public:
  NeuronPredictors() = default;
  // Validates every layer against the model's shape; throws std::invalid_argument.
  NeuronPredictors(const ModelConfig& model, std::vector<PredictorLayer> layers, std::vector<PredictorLayerInfo> info,
                   double target_recall);

  // Loads a predictor file; checks it against the model (n_layers, d_model, d_ff, and the
  // model's activation) and throws std::invalid_argument naming the mismatch / bad file
  // (missing file, not a predictor file, truncated: clear message, never a crash).
  static NeuronPredictors load(const std::filesystem::path& path, const ModelConfig& model);
  // Writes the file (model/predictor_file.h).
  void save(const std::filesystem::path& path) const;

  int n_layers() const { return static_cast<int>(layers_.size()); }
  int d_model() const { return d_model_; }
  int d_ff() const { return d_ff_; }
  Activation activation() const { return activation_; }
  double target_recall() const { return target_recall_; }
  // Of the model they were trained for (model/model_fingerprint.h); empty when unknown.
  const std::string& model_fingerprint() const { return model_fingerprint_; }
  int rank(int layer) const { return layers_.at(static_cast<size_t>(layer)).rank; }
  size_t bytes() const;  // weight bytes read per token over all layers
  size_t layer_bytes(int layer) const { return layers_.at(static_cast<size_t>(layer)).bytes(); }
  const PredictorLayer& layer(int layer) const { return layers_.at(static_cast<size_t>(layer)); }
  const PredictorLayerInfo& info(int layer) const { return info_.at(static_cast<size_t>(layer)); }

  // Sorted ascending indices of the neurons of `layer` predicted active for one token's
  // normalised FFN input xn[d_model] (the output of ffn_norm): logit >= 0. Single thread, fast.
  void predict(int layer, const float* xn, std::vector<int32_t>& active, PredictorScratch& scratch) const;
  // The same on the pool's threads (fc1 and fc2 rows split between them): the same
  // result, for the runtime's predictor actor, whose neighbours are idle meanwhile.
  void predict(ThreadPool& pool, int layer, const float* xn, std::vector<int32_t>& active, PredictorScratch& scratch) const;

 private:
  void predict_on(ThreadPool* pool, int layer, const float* xn, std::vector<int32_t>& active, PredictorScratch& scratch) const;

  int d_model_ = 0, d_ff_ = 0;
  Activation activation_ = Activation::ReLU;
  double target_recall_ = 0;
  std::string model_fingerprint_;
  std::vector<PredictorLayer> layers_;
  std::vector<PredictorLayerInfo> info_;
};

// Bytes of one layer at this rank: fc1 and fc2 as Q8_0 plus the F32 bias.
size_t predictor_layer_bytes(int d_model, int d_ff, int rank);

}  // namespace actinfer
