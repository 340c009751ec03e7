// This process's threads as the kernel lists them (/proc/self/task): each one's name and the
// cores it may run on ("Cpus_allowed_list"). Empty where /proc is missing.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/cpu_list.h"

namespace actinfer::testing {

inline std::multimap<std::string, std::vector<int>> threads_and_cores() {
  std::multimap<std::string, std::vector<int>> out;
  if (!std::filesystem::exists("/proc/self/task")) return out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    std::vector<int> cores;
    std::ifstream status(task.path() / "status");
    const std::string key = "Cpus_allowed_list:";
    for (std::string line; std::getline(status, line);)
      if (line.rfind(key, 0) == 0) cores = parse_cpu_list(line.substr(line.find_first_not_of(" \t", key.size())));
    out.emplace(name, cores);
  }
  return out;
}

}  // namespace actinfer::testing
