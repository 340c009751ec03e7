// The merge actor: sums a layer's partial FFN outputs (hot and cold) and hands
// the total to the gpu-worker for the next layer.
#pragma once
#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

namespace actinfer::actors {

struct MergeArgs {
  int d_model = 0;
  bool trace = false;
};

caf::actor spawn_merge(caf::actor_system& sys, MergeArgs args);

}  // namespace actinfer::actors
