// A worker's FFN neurons of every layer as neuron bundles, computed sparsely:
// the gpu-worker's hot neurons, or a CPU-worker team's cold ones. Each layer can
// hold a different set (placements scatter hot neurons); the shard maps the
// predictor's global neuron indices to its own records.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "engine/neuron_bundles.h"
#include "kernels/sparse_ffn.h"
#include "model/model_weights.h"

namespace actinfer {

class NeuronShard {
 public:
  // neurons[l]: the increasing global indices of layer l this shard computes.
  static size_t bytes_needed(const ModelWeights& w, const std::vector<std::vector<int32_t>>& neurons);
  // Builds the records into `buffer` (64-byte aligned, at least bytes_needed; it must
  // outlive the shard), or into owned memory when buffer is empty.
  NeuronShard(const ModelWeights& w, std::vector<std::vector<int32_t>> neurons, std::span<std::byte> buffer = {});

  int n_layers() const { return static_cast<int>(layers_.size()); }
  int64_t n_neurons(int layer) const { return layers_[static_cast<size_t>(layer)].n_neurons(); }
  int64_t n_neurons() const;
  size_t bytes() const { return bytes_; }
  const NeuronBundles& bundles(int layer) const { return layers_[static_cast<size_t>(layer)]; }

  // y[B][d] = the FFN output of this shard's neurons of `layer` that are in token t's
  // list active[t] (increasing global indices; neurons of other workers are skipped).
  // Returns the weight bytes it read (kernels/sparse_ffn.h).
  uint64_t compute(ThreadPool& pool, int layer, const float* xn, int B, std::span<const std::vector<int32_t>> active, float* y,
                  SparseScratch& scratch) const;

 private:
  std::vector<std::byte> owned_;
  size_t bytes_ = 0;
  std::vector<NeuronBundles> layers_;
  std::vector<std::vector<int32_t>> local_;  // [layer][global neuron] -> record index, or -1
  mutable std::vector<std::vector<int32_t>> lists_;  // per token, local indices (compute's scratch)
};

}  // namespace actinfer
