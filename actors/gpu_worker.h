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
#include "actors/fault_hook.h"
#include "actors/neuron_split.h"
#include "model/model_weights.h"
#include "topology/topology.h"

namespace actinfer::actors {

struct GpuWorkerArgs {
  std::shared_ptr<const ModelWeights> weights;
  std::shared_ptr<const NeuronSplit> split;  // its hot neurons per layer
  std::shared_ptr<Backend> backend;          // where it computes (moved into the actor)
  int max_layers = 0;                        // 0: all
  // The backend runs the trained predictors (BackendOptions::predictors): the gpu-worker
  // then predicts each layer's active sets itself right after attention, sends the
  // cpu-workers their work and computes its hot share inline (the predictor actor idles).
  bool predicts = false;
  bool sparse = false;        // per-token lists for sparse kernels (else the union's flags)
  uint64_t predictor_bytes = 0;  // for its PredictorStats
  bool trace = false;
  FaultHook fault_hook;  // tests only
};

caf::actor spawn_gpu_worker(caf::actor_system& sys, GpuWorkerArgs args);

}  // namespace actinfer::actors
