#include "config/machine_fit.h"

#include "config/cpu_list.h"

namespace actinfer {

void check_fits_machine(const DeploymentConfig& c, const topology::Topology& topo) {
  std::vector<std::string> problems;
  const int n_nodes = static_cast<int>(topo.numa_nodes().size());
  std::vector<int> all_pus;
  for (const auto& pu : topo.pus()) all_pus.push_back(pu.os_index);
  // Binding is only planned on synthetic and XML topologies: their cores are not checked.
  const bool check_cores = !topo.is_synthetic();
  auto missing_of = [&](const std::vector<int>& pus) {
    std::vector<int> missing;
    for (int p : pus)
      if (!topo.find_pu(p)) missing.push_back(p);
    return missing;
  };
  for (size_t i = 0; i < c.teams.size(); ++i) {
    const TeamConfig& t = c.teams[i];
    const std::string team = "team " + std::to_string(i);
    if (t.numa_node < 0 || t.numa_node >= n_nodes) {
      problems.push_back(team + ": NUMA node " + std::to_string(t.numa_node) + " does not exist (the topology has " +
                         std::to_string(n_nodes) + (n_nodes == 1 ? " node)" : " nodes)"));
      continue;
    }
    if (!check_cores || t.pus.empty()) continue;
    const std::vector<int> missing = missing_of(t.pus);
    if (!missing.empty()) {
      problems.push_back(team + ": cores " + format_cpu_list(missing) + " do not exist");
      continue;
    }
    std::vector<int> elsewhere;
    for (int p : t.pus)
      if (topo.find_pu(p)->numa_node != t.numa_node) elsewhere.push_back(p);
    if (!elsewhere.empty())
      problems.push_back(team + ": cores " + format_cpu_list(elsewhere) + " are not on NUMA node " +
                         std::to_string(t.numa_node));
  }
  if (check_cores && c.backend == BackendKind::host && !c.host_pus.empty()) {
    const std::vector<int> missing = missing_of(c.host_pus);
    if (!missing.empty()) problems.push_back("host-cores: cores " + format_cpu_list(missing) + " do not exist");
  }
  if (problems.empty()) return;
  std::string msg = (c.source.empty() ? std::string("the deployment config") : c.source) + " does not fit " +
                    topo.source() + " (" + std::to_string(n_nodes) + (n_nodes == 1 ? " NUMA node" : " NUMA nodes") +
                    ", cores " + format_cpu_list(all_pus) + "): ";
  for (size_t i = 0; i < problems.size(); ++i) msg.append(i ? "; " : "").append(problems[i]);
  msg += ". Adapt the config to this machine (lstopo --no-io shows it) or choose another with --config";
  throw ConfigError(msg, c.source);
}

}  // namespace actinfer
