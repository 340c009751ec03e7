// A CPU-worker team's cold neurons of every layer, copied into memory bound to
// the team's NUMA node, so the team never reads another node's memory:
//  dense kernels:  rows [begin, end) of gate and up and the same columns of down;
//  sparse kernels: neuron bundles of exactly the team's cold neurons per layer
//                  (engine/neuron_shard.h), and for steps above the sparse-dense
//                  crossover views of the same dense rows and columns in the model's
//                  own weights (not copied: the bundles are what decode reads).
#pragma once
#include <memory>
#include <vector>

#include "engine/layer_ops.h"
#include "engine/neuron_shard.h"
#include "engine/neuron_slice.h"
#include "model/model_weights.h"
#include "topology/node_memory.h"
#include "topology/topology.h"

namespace actinfer {

class ColdShard {
 public:
  ColdShard(const ModelWeights& w, NeuronRun run, const topology::Topology& topo, int numa_node);
  // Sparse: bundles of neurons[l] of every layer l (global indices inside run).
  ColdShard(const ModelWeights& w, NeuronRun run, std::vector<std::vector<int32_t>> neurons, const topology::Topology& topo,
            int numa_node);
  const NeuronRun& run() const { return run_; }
  int n_neurons() const { return run_.end - run_.begin; }
  bool sparse() const { return sparse_ != nullptr; }
  const NeuronShard& sparse_neurons() const { return *sparse_; }
  // The dense rows [begin, end) of gate and up and those columns of down (sparse: views into
  // the model's weights, which must outlive the shard).
  const FfnWeights& layer(int l) const { return layers_[static_cast<size_t>(l)]; }
  size_t bytes() const { return memory_.size(); }
  bool node_bound() const { return memory_.bound(); }
  const std::string& warning() const { return memory_.warning(); }

 private:
  NeuronRun run_;
  topology::NodeLocalBuffer memory_;
  std::vector<FfnWeights> layers_;
  std::unique_ptr<NeuronShard> sparse_;
};

}  // namespace actinfer
