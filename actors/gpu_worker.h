// The gpu-worker: embeddings, attention and the KV cache, the hot FFN neurons, the
// residual stream and the output head. It owns every layer: it hands the cold work
// out, adds its own hot share to the residual itself and waits only for the cold
// share (one cpu-worker's FfnPartial, or merge's FfnOutput for several). Its
// arithmetic runs on a Backend; `host` is the same role on dedicated CPU threads
// (the `cuda` backend fills the same seam).
#pragma once
#include <limits>
#include <memory>
#include <vector>

#include "actors/fault_hook.h"
#include "actors/neuron_split.h"
#include "backends/backend.h"
#include "caf/actor_system.hpp"
#include "model/model_weights.h"
#include "protocol/wiring.h"

namespace actinfer::actors {

// Where a layer's active set comes from.
enum class ActiveSource {
  Every,      // no prediction: every neuron (predictor all; oracle, where the FFN's own gate pass decides)
  Backend,    // the backend's trained predictors (BackendOptions::predictors), right after attention
  Predictor,  // a request to the predictor actor (threshold; trained with recall checks)
};

struct GpuWorkerArgs {
  std::shared_ptr<const ModelWeights> weights;
  std::shared_ptr<const NeuronSplit> split;  // its hot neurons per layer
  std::shared_ptr<Backend> backend;          // where it computes (moved into the actor)
  int max_layers = 0;                        // 0: all
  ActiveSource active = ActiveSource::Every;
  bool sparse = false;           // per-token lists for sparse kernels (else the union's flags)
  int sparse_dense_crossover = std::numeric_limits<int>::max();  // steps of more tokens go dense (sparse_step)
  uint64_t predictor_bytes = 0;  // for its PredictorStats (ActiveSource::Backend)
  bool trace = false;
  FaultHook fault_hook;  // tests only
};

protocol::GpuWorkerActor spawn_gpu_worker(caf::actor_system& sys, GpuWorkerArgs args);

}  // namespace actinfer::actors
