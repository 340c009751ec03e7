#include "engine/neuron_shard.h"

#include <stdexcept>
#include <string>

#include "topology/node_memory.h"

namespace actinfer {

size_t NeuronShard::bytes_needed(const ModelWeights& w, const std::vector<std::vector<int32_t>>& neurons) {
  size_t total = 0;
  for (size_t l = 0; l < neurons.size(); ++l)
    total += NeuronBundles::bytes_needed(FfnWeights::of_layer(w, static_cast<int>(l)), neurons[l].size());
  return total;
}

NeuronShard::NeuronShard(const ModelWeights& w, std::vector<std::vector<int32_t>> neurons, std::span<std::byte> buffer) {
  const ModelConfig& c = w.config();
  if (static_cast<int>(neurons.size()) != c.n_layers)
    throw std::invalid_argument("NeuronShard: " + std::to_string(neurons.size()) + " neuron lists for " + std::to_string(c.n_layers) + " layers");
  bytes_ = bytes_needed(w, neurons);
  if (buffer.empty()) {
    owned_.reserve(bytes_ + NeuronBundles::kAlign);
    topology::advise_huge_pages(owned_.data(), bytes_ + NeuronBundles::kAlign);  // before first touch
    owned_.resize(bytes_ + NeuronBundles::kAlign);
    const auto addr = reinterpret_cast<uintptr_t>(owned_.data());
    const size_t skew = (NeuronBundles::kAlign - addr % NeuronBundles::kAlign) % NeuronBundles::kAlign;
    buffer = std::span<std::byte>(owned_.data() + skew, bytes_);
  }
  if (buffer.size() < bytes_) throw std::invalid_argument("NeuronShard: buffer too small");
  std::byte* next = buffer.data();
  for (int l = 0; l < c.n_layers; ++l) {
    const FfnWeights f = FfnWeights::of_layer(w, l);
    const std::vector<int32_t>& list = neurons[static_cast<size_t>(l)];
    const size_t n = NeuronBundles::bytes_needed(f, list.size());
    layers_.emplace_back(f, list, std::span<std::byte>(next, n));
    next += n;
    std::vector<int32_t> local(static_cast<size_t>(c.d_ff), -1);
    for (size_t k = 0; k < list.size(); ++k) local[static_cast<size_t>(list[k])] = static_cast<int32_t>(k);
    local_.push_back(std::move(local));
  }
}

int64_t NeuronShard::n_neurons() const {
  int64_t n = 0;
  for (const auto& b : layers_) n += b.n_neurons();
  return n;
}

uint64_t NeuronShard::compute(ThreadPool& pool, int layer, const float* xn, int B, std::span<const std::vector<int32_t>> active,
                             float* y, SparseScratch& scratch) const {
  const auto& local = local_[static_cast<size_t>(layer)];
  lists_.resize(static_cast<size_t>(B));
  for (int t = 0; t < B; ++t) {
    auto& out = lists_[static_cast<size_t>(t)];
    out.clear();
    for (int32_t g : active[static_cast<size_t>(t)]) {
      if (g < 0 || static_cast<size_t>(g) >= local.size()) throw std::out_of_range("NeuronShard: neuron index out of range");
      if (const int32_t i = local[static_cast<size_t>(g)]; i >= 0) out.push_back(i);
    }
  }
  const NeuronBundles& b = layers_[static_cast<size_t>(layer)];
  if (b.n_neurons() == 0) {
    std::fill(y, y + static_cast<size_t>(B) * static_cast<size_t>(b.d_model()), 0.0f);
    return 0;
  }
  return sparse_ffn_batch(pool, b, xn, B, lists_, y, scratch);
}

}  // namespace actinfer
