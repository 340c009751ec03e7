// The merge actor: sums the cold partial FFN outputs of a layer when two or more
// cpu-workers (one per NUMA node) have work in it, and hands the sum to the
// gpu-worker as one FfnOutput. (A lone cpu-worker's partial skips it.)
#pragma once
#include "caf/actor_system.hpp"
#include "protocol/wiring.h"

namespace actinfer::actors {

struct MergeArgs {
  int d_model = 0;
  bool trace = false;
};

protocol::MergeActor spawn_merge(caf::actor_system& sys, MergeArgs args);

}  // namespace actinfer::actors
