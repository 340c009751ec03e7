#include "config/runtime_options.h"

#include <stdexcept>

#include "config/deployment_config.h"

namespace actinfer {

ActorRuntimeOptions runtime_options_from(const DeploymentConfig& c, const EngineOptions& engine) {
  ActorRuntimeOptions o;
  o.backend = c.backend;
  o.vram_budget = c.vram_budget_bytes;
  o.gpu_device = c.gpu_device;
  o.engine = engine;
  if (c.host_threads > 0) o.engine.n_threads = c.host_threads;
  o.host_pus = c.host_cores;
  o.hot_fraction = c.hot_fraction;
  o.placement = c.placement;
  o.teams.clear();
  for (const TeamConfig& t : c.teams)
    o.teams.push_back({t.numa_node, t.cores, t.threads});
  o.predictor = c.predictor;
  o.sparse = c.sparse;
  o.profile = c.profile;
  o.predictors = c.predictors;
  o.check_recall = c.check_recall;
  o.predictor_threads = c.predictor_threads;
  o.topology = c.topology;
  o.scheduler_policy = c.scheduler_policy;
  o.scheduler_threads = c.scheduler_max_threads;
  o.trace = !c.trace.empty();
  return o;
}

}  // namespace actinfer
