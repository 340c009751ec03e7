// Whether a deployment fits the machine it is about to run on: every team's NUMA node
// exists, and every core a team or the host gpu-worker is pinned to exists (and, for a
// team, lies on its node). One error naming the config, each team and the missing cores,
// instead of a warning per core once threads start.
#pragma once
#include "config/deployment_config.h"
#include "topology/topology.h"

namespace actinfer {

// Throws ConfigError (source(): the config's source) listing every misfit in one message.
void check_fits_machine(const DeploymentConfig& config, const topology::Topology& topo);

}  // namespace actinfer
