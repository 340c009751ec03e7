// The gpu-worker: embeddings, attention and the KV cache, the hot FFN neurons
// and the output head. Its arithmetic runs on a Backend; `host` is the same
// role on dedicated CPU threads (the `cuda` backend fills the same seam).
#pragma once
#include <memory>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "engine/dense_engine.h"
#include "actors/backend.h"
#include "actors/neuron_split.h"
#include "model/model_weights.h"
#include "topology/topology.h"

namespace actinfer::actors {

struct GpuWorkerArgs {
  std::shared_ptr<const ModelWeights> weights;
  std::shared_ptr<const NeuronSplit> split;  // its hot neurons per layer
  std::shared_ptr<Backend> backend;          // where it computes (moved into the actor)
  int max_layers = 0;                        // 0: all
  bool trace = false;
};

caf::actor spawn_gpu_worker(caf::actor_system& sys, GpuWorkerArgs args);

}  // namespace actinfer::actors
