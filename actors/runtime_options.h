// How the actor runtime is laid out: the gpu-worker's backend and threads, the
// hot/cold split of FFN neurons, the CPU-worker teams and where they run.
#pragma once
#include <string>
#include <vector>

#include "actors/fault_hook.h"
#include "engine/dense_engine.h"

namespace actinfer {

struct TeamOptions {
  int numa_node = 0;     // logical NUMA node index in the topology
  std::vector<int> pus;  // PU os indexes to pin to (empty: the node's PUs, or unpinned)
  int threads = 1;      // 0: one per PU of `pus`, or of the node
};

struct ActorRuntimeOptions {
  std::string backend = "host";  // where the gpu-worker computes: host | cuda
  uint64_t vram_budget = 0;      // bytes the gpu-worker may hold (host: emulated); 0 = no limit
  int gpu_device = 0;            // cuda: the CUDA device
  EngineOptions engine;          // n_threads: the host gpu-worker's threads; n_ctx, batch, exactness
  std::vector<int> host_pus;     // pinning of the host gpu-worker's threads (empty: unpinned)
  double hot_fraction = 1.0;     // the first hot_fraction of each layer's neurons are hot
  std::string placement;         // placement file (hot neurons per layer); overrides hot_fraction
  std::vector<TeamOptions> teams = {TeamOptions{}};
  // Which neurons to compute (actors/predictor.h): all | oracle | threshold | trained, or
  // auto: trained when a predictor file is given, threshold when a profile is given for a
  // non-ReLU model, else oracle.
  std::string predictor = "auto";
  bool sparse = false;           // sparse kernels on neuron bundles, per-token active lists
  std::string profile;           // profile file: per-layer thresholds
  std::string predictors;        // trained predictor file
  bool check_recall = false;     // trained: also compute the true sets (recall in stats())
  int predictor_threads = 1;     // the predictor's pool (more threads wake up too slowly: measured slower)
  std::string topology = "real";     // real | synthetic:<hwloc string> | xml:<path>
  std::string scheduler_policy = "sharing";
  int scheduler_threads = 1;
  bool trace = false;            // record spans (written by ActorRuntime::write_trace)
  FaultHook fault_hook;          // tests only: injects failures (actors/fault_hook.h)
};

struct DeploymentConfig;

// The runtime layout a deployment config describes.
ActorRuntimeOptions runtime_options_from(const DeploymentConfig& config, const EngineOptions& engine);

}  // namespace actinfer
