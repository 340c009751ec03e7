// A CPU-worker team: the cold neurons of one shard (one NUMA node), on threads
// pinned to that node's cores, with its weights in node-local memory. Its partial
// goes straight to the gpu-worker when it is the layer's only cpu-worker with work,
// else to merge.
#pragma once
#include <memory>
#include <vector>

#include "actors/cold_shard.h"
#include "actors/fault_hook.h"
#include "actors/neuron_split.h"
#include "caf/actor_system.hpp"
#include "protocol/wiring.h"

namespace actinfer::actors {

struct CpuWorkerArgs {
  int index = 1;  // worker number in partial outputs: team index + 1
  std::shared_ptr<const ModelWeights> weights;
  std::shared_ptr<const ColdShard> shard;
  std::shared_ptr<const NeuronSplit> split;
  int threads = 1;
  std::vector<int> pus;
  std::shared_ptr<const topology::Topology> topology;
  int max_batch = 64;
  bool exact_activations = false;
  bool batch_invariant = false;  // no tiled GEMM: a row's result does not depend on the batch (serve)
  bool trace = false;
  FaultHook fault_hook;  // tests only
};

protocol::CpuWorkerActor spawn_cpu_worker(caf::actor_system& sys, CpuWorkerArgs args);

}  // namespace actinfer::actors
