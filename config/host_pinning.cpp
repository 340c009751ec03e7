#include "config/host_pinning.h"

#include "engine/dense_engine.h"

namespace actinfer {

bool pin_host_caller(const DeploymentConfig& c) { return c.scheduler_threads == 1; }

std::vector<int> host_thread_pus(const DeploymentConfig& c, std::span<const int> allowed) {
  if (!c.host_pus.empty()) return c.host_pus;
  if (c.host_pinning == HostPinning::off || c.backend != BackendKind::host || c.topology != "real" || !pin_host_caller(c))
    return {};
  const int threads = default_thread_count(c.engine.n_threads);
  if (threads < 2 || static_cast<size_t>(threads) != allowed.size()) return {};
  return {allowed.begin(), allowed.end()};
}

}  // namespace actinfer
