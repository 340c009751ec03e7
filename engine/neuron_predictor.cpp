#include "engine/neuron_predictor.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/ggml_type.h"
#include "kernels/q8_0_short_rows.h"
#include "kernels/vec_dot.h"

namespace actinfer {

size_t predictor_layer_bytes(int d_model, int d_ff, int rank) {
  return static_cast<size_t>(rank) * static_cast<size_t>(row_bytes(GgmlType::Q8_0, d_model)) +
         static_cast<size_t>(d_ff) * static_cast<size_t>(row_bytes(GgmlType::Q8_0, rank)) + static_cast<size_t>(d_ff) * sizeof(float);
}

void PredictorLayer::check() const {
  auto fail = [](const std::string& m) { throw std::invalid_argument("predictor layer: " + m); };
  if (d_model < 1 || d_ff < 1) fail("empty shape");
  if (d_model % 32 != 0) fail("d_model " + std::to_string(d_model) + " is not a multiple of 32 (Q8_0 rows)");
  if (rank < 32 || rank % 32 != 0) fail("rank " + std::to_string(rank) + " is not a positive multiple of 32");
  if (fc1.size() != static_cast<size_t>(rank) * static_cast<size_t>(row_bytes(GgmlType::Q8_0, d_model)))
    fail("fc1 has " + std::to_string(fc1.size()) + " bytes, not [" + std::to_string(rank) + "][" + std::to_string(d_model) + "] Q8_0");
  if (fc2.size() != static_cast<size_t>(d_ff) * static_cast<size_t>(row_bytes(GgmlType::Q8_0, rank)))
    fail("fc2 has " + std::to_string(fc2.size()) + " bytes, not [" + std::to_string(d_ff) + "][" + std::to_string(rank) + "] Q8_0");
  if (bias.size() != static_cast<size_t>(d_ff)) fail("bias has " + std::to_string(bias.size()) + " values, not " + std::to_string(d_ff));
  for (float b : bias)
    if (!std::isfinite(b)) fail("bias holds a non-finite value");
  // A Q8_0 block starts with its F16 scale; an Inf/NaN one (exponent bits all set) turns
  // every logit it touches into NaN, which no threshold then tells apart.
  const auto check_scales = [&](const std::vector<std::byte>& q, const char* what) {
    const size_t block = static_cast<size_t>(traits(GgmlType::Q8_0).block_bytes);
    for (size_t at = 0; at + 2 <= q.size(); at += block) {
      const uint16_t h = static_cast<uint16_t>(std::to_integer<uint16_t>(q[at]) | (std::to_integer<uint16_t>(q[at + 1]) << 8));
      if ((h & 0x7C00u) == 0x7C00u)
        fail(std::string(what) + " block " + std::to_string(at / block) + " has a non-finite scale");
    }
  };
  check_scales(fc1, "fc1");
  check_scales(fc2, "fc2");
}

namespace {

// logits = fc2 . ReLU(fc1 . xn) + bias, the rows of fc1 and fc2 split over the pool's
// threads (inline without a pool). Every row is computed the same way either way. Then
// on_rows(r0, r1) runs on the thread that computed logits [r0, r1), in the same task.
template <typename OnRows>
void layer_logits(const PredictorLayer& p, const float* xn, float* out, PredictorScratch& s, ThreadPool* pool, const OnRows& on_rows) {
  const auto act_bytes = [](int64_t n) { return static_cast<size_t>(row_bytes(GgmlType::Q8_0, n)); };
  // Grows once; resize never shrinks capacity, so later calls do not allocate.
  if (s.xq.size() < act_bytes(p.d_model)) s.xq.resize(act_bytes(p.d_model));
  if (s.hidden.size() < static_cast<size_t>(p.rank)) s.hidden.resize(static_cast<size_t>(p.rank));
  if (s.hq.size() < act_bytes(p.rank)) s.hq.resize(act_bytes(p.rank));
  auto rows = [&](int64_t n, const auto& f) {  // a template: no std::function on this hot path
    if (!pool || pool->size() == 1) return f(0, n, 0);
    pool->run([&](int ti, int nt) {
      const auto [r0, r1] = ThreadPool::split(n, ti, nt, 8);
      f(r0, r1, ti);
    });
  };
  const size_t fc1_stride = act_bytes(p.d_model), fc2_stride = act_bytes(p.rank);
  quantize_activation(GgmlType::Q8_0, xn, s.xq.data(), p.d_model);
  rows(p.rank, [&](int64_t r0, int64_t r1, int) {
    if (r1 > r0)
      vec_dot_rows(GgmlType::Q8_0, p.d_model, p.fc1.data() + static_cast<size_t>(r0) * fc1_stride, fc1_stride, r1 - r0, s.xq.data(),
                   s.hidden.data() + r0);
  });
  for (int j = 0; j < p.rank; ++j) s.hidden[static_cast<size_t>(j)] = std::max(s.hidden[static_cast<size_t>(j)], 0.0f);
  quantize_activation(GgmlType::Q8_0, s.hidden.data(), s.hq.data(), p.rank);
  rows(p.d_ff, [&](int64_t r0, int64_t r1, int ti) {
    if (r1 > r0) {
      vec_dot_q8_0_short_rows(p.rank, p.fc2.data() + static_cast<size_t>(r0) * fc2_stride, fc2_stride, r1 - r0, s.hq.data(), out + r0);
      for (int64_t i = r0; i < r1; ++i) out[i] += p.bias[static_cast<size_t>(i)];
    }
    on_rows(r0, r1, ti);
  });
}

}  // namespace

void PredictorLayer::logits(const float* xn, float* out, PredictorScratch& s) const {
  layer_logits(*this, xn, out, s, nullptr, [](int64_t, int64_t, int) {});
}

NeuronPredictors::NeuronPredictors(const ModelConfig& model, std::vector<PredictorLayer> layers, std::vector<PredictorLayerInfo> info,
                                   double target_recall)
    : d_model_(model.d_model), d_ff_(model.d_ff), activation_(model.activation), target_recall_(target_recall),
      model_fingerprint_(model.fingerprint), layers_(std::move(layers)), info_(std::move(info)) {
  if (static_cast<int>(layers_.size()) != model.n_layers)
    throw std::invalid_argument("predictors: " + std::to_string(layers_.size()) + " layers for a model of " + std::to_string(model.n_layers));
  if (info_.size() != layers_.size()) throw std::invalid_argument("predictors: one info entry per layer is needed");
  for (size_t l = 0; l < layers_.size(); ++l) {
    const PredictorLayer& p = layers_[l];
    if (p.d_model != d_model_ || p.d_ff != d_ff_)
      throw std::invalid_argument("predictor layer " + std::to_string(l) + " is " + std::to_string(p.d_model) + " -> " +
                                  std::to_string(p.d_ff) + ", the model " + std::to_string(d_model_) + " -> " + std::to_string(d_ff_));
    p.check();
  }
}

size_t NeuronPredictors::bytes() const {
  size_t n = 0;
  for (const auto& l : layers_) n += l.bytes();
  return n;
}

void NeuronPredictors::predict(int layer, const float* xn, std::vector<int32_t>& active, PredictorScratch& s) const {
  predict_on(nullptr, layer, xn, active, s);
}

void NeuronPredictors::predict(ThreadPool& pool, int layer, const float* xn, std::vector<int32_t>& active, PredictorScratch& s) const {
  predict_on(&pool, layer, xn, active, s);
}

void NeuronPredictors::predict_on(ThreadPool* pool, int layer, const float* xn, std::vector<int32_t>& active, PredictorScratch& s) const {
  const PredictorLayer& p = layers_.at(static_cast<size_t>(layer));
  if (s.logits.size() < static_cast<size_t>(p.d_ff)) s.logits.resize(static_cast<size_t>(p.d_ff));
  const size_t n_threads = pool ? static_cast<size_t>(pool->size()) : 1;
  if (s.fired.size() < n_threads) s.fired.resize(n_threads);
  // Each thread lists the firing neurons of its own rows while they are in its cache;
  // the lists, in thread order, are in increasing neuron order.
  const float* z = s.logits.data();
  layer_logits(p, xn, s.logits.data(), s, pool, [&](int64_t r0, int64_t r1, int ti) {
    std::vector<int32_t>& mine = s.fired[static_cast<size_t>(ti)];
    mine.resize(static_cast<size_t>(std::max<int64_t>(r1 - r0, 0)));
    size_t n = 0;
    for (int64_t i = r0; i < r1; ++i) {  // branch-free: ~10% fire, in no predictable pattern
      mine[n] = static_cast<int32_t>(i);
      n += z[i] >= 0.0f ? 1 : 0;
    }
    mine.resize(n);
  });
  active.clear();
  for (size_t t = 0; t < n_threads; ++t) active.insert(active.end(), s.fired[t].begin(), s.fired[t].end());
}

}  // namespace actinfer
