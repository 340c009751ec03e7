#include "engine/predictor_recording.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace actinfer {

ActivationRecording record_activations(const ModelWeights& w, std::span<const int32_t> tokens, const std::vector<float>& thresholds,
                                       const ProfileOptions& o, const std::function<void(int, int)>& progress) {
  const ModelConfig& c = w.config();
  const bool relu = c.activation == Activation::ReLU;
  if (!relu && static_cast<int>(thresholds.size()) != c.n_layers)
    throw std::invalid_argument("recording: " + std::to_string(thresholds.size()) + " thresholds for " + std::to_string(c.n_layers) + " layers");
  ActivationRecording rec;
  rec.thresholds = relu ? std::vector<float>(static_cast<size_t>(c.n_layers), 0.0f) : thresholds;
  rec.layers.reserve(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    rec.layers.emplace_back(c.d_model, c.d_ff);
    rec.layers.back().reserve(static_cast<int64_t>(tokens.size()));
  }
  std::vector<uint8_t> fired(static_cast<size_t>(c.d_ff));
  observe_activations(w, tokens, o, [&](int l, const float* xn, const float* a) {
    const float t = rec.thresholds[static_cast<size_t>(l)];
    for (int i = 0; i < c.d_ff; ++i) fired[static_cast<size_t>(i)] = relu ? a[i] > 0.0f : std::fabs(a[i]) > t;
    rec.layers[static_cast<size_t>(l)].add(xn, fired.data());
  }, progress);
  return rec;
}

}  // namespace actinfer
