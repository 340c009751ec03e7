// Pinning of the host gpu-worker's threads (config/host_pinning.h): the rule, and what the
// kernel reports for the runtime's real threads (/proc, not our own bookkeeping).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/actor_runtime.h"
#include "config/cpu_list.h"
#include "config/host_pinning.h"
#include "tests/proc_threads.h"
#include "tests/runtime_comparison.h"
#include "tests/skip_report.h"
#include "topology/pinning.h"

using namespace actinfer;

namespace {

DeploymentConfig with_threads(int n) {
  DeploymentConfig c;
  c.engine.n_threads = n;
  return c;
}

// The process's own affinity as /proc/self/status shows it: the reference for allowed_pus.
std::vector<int> proc_allowed() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Cpus_allowed_list:", 0) == 0) return parse_cpu_list(line.substr(line.find_first_not_of(" \t", 18)));
  return {};
}

}  // namespace

TEST_CASE("host pinning: explicit cores win, auto pins only when the threads take every allowed core") {
  const std::vector<int> two = {4, 9};
  DeploymentConfig c = with_threads(2);
  CHECK(host_thread_pus(c, two) == two);                       // as many threads as cores: one each
  CHECK(host_thread_pus(with_threads(3), two).empty());        // more threads than cores: they time-share
  CHECK(host_thread_pus(with_threads(2), std::vector<int>{0, 1, 2}).empty());  // a core to spare
  CHECK(host_thread_pus(with_threads(1), std::vector<int>{0}).empty());        // one thread cannot stack
  c.host_pinning = HostPinning::off;
  CHECK(host_thread_pus(c, two).empty());
  c.host_pus = {7, 3};
  CHECK(host_thread_pus(c, two) == std::vector<int>{7, 3});  // host-cores whatever host-pinning says

  DeploymentConfig many_caf = with_threads(2);
  many_caf.scheduler_threads = 2;  // the gpu-worker may move between CAF threads: pinning one is not enough
  CHECK(host_thread_pus(many_caf, two).empty());
  CHECK_FALSE(pin_host_caller(many_caf));
  CHECK(pin_host_caller(with_threads(2)));
  DeploymentConfig cuda = with_threads(2);
  cuda.backend = BackendKind::cuda;
  CHECK(host_thread_pus(cuda, two).empty());
  DeploymentConfig synthetic = with_threads(2);
  synthetic.topology = "synthetic:pack:1 core:2 pu:1";  // not this machine
  CHECK(host_thread_pus(synthetic, two).empty());

  // 0 threads means one per core of the machine.
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  std::vector<int> all;
  for (int i = 0; i < cores; ++i) all.push_back(i);
  CHECK(host_thread_pus(with_threads(0), all) == (cores >= 2 ? all : std::vector<int>{}));
}

TEST_CASE("host pinning: allowed_pus is the process's affinity as /proc shows it") {
  if (!std::filesystem::exists("/proc/self/status")) {
    ACTINFER_REPORT_SKIPPED("no /proc/self/status here");
    return;
  }
  CHECK(topology::allowed_pus() == proc_allowed());
}

// The runtime's real threads: with as many host threads as allowed cores, pool thread 1 runs
// on the second core only and the calling CAF thread on the first; host-pinning off leaves
// them free. (The busy-machine effect is measured by tools/bench_vs_llamacpp.py --busy.)
TEST_CASE("host pinning: the actor runtime pins the pool and its calling thread, or leaves them free") {
  const std::vector<int> allowed = topology::allowed_pus();
  if (!std::filesystem::exists("/proc/self/task") || allowed.size() < 2 || allowed.size() > 16) {
    ACTINFER_REPORT_SKIPPED("needs /proc and 2 to 16 allowed cores, this process has " << allowed.size());
    return;
  }
  auto w = ModelWeights::load(testing::small_relu_model("host_pinning_tiny", GgmlType::F32, 3));
  for (HostPinning pinning : {HostPinning::automatic, HostPinning::off}) {
    DeploymentConfig o;
    o.engine.n_threads = static_cast<int>(allowed.size());
    o.engine.n_ctx = 64;
    o.teams.assign(1, TeamConfig{0, {}, 1});
    o.host_pinning = pinning;
    ActorRuntime rt(w, o);
    const std::vector<int32_t> tokens = {3, 7};
    rt.eval(tokens, false);  // the first step runs the caller hook on the gpu-worker's thread
    // The cpu-worker's team may still be starting (its threads are named once they run).
    auto threads = testing::threads_and_cores();
    for (int i = 0; i < 200 && !threads.contains("cpu1-team-0"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      threads = testing::threads_and_cores();
    }
    INFO("host-pinning " << to_string(pinning) << "; threads: " << [&] {
      std::string list;
      for (const auto& [name, cores] : threads) list += name + " on " + format_cpu_list(cores) + ", ";
      return list;
    }());
    const auto pool1 = threads.find("gpu-pool-1");
    REQUIRE(pool1 != threads.end());
    const auto team = threads.find("cpu1-team-0");
    REQUIRE(team != threads.end());
    // Unpinned, even where the pinned CAF thread started it: a started thread inherits its starter's cores.
    CHECK(team->second == allowed);
    int caf_on_first = 0;
    for (const auto& [name, cores] : threads)
      if (name.rfind("caf.", 0) == 0 && cores == std::vector<int>{allowed[0]}) ++caf_on_first;
    if (pinning == HostPinning::automatic) {
      CHECK(pool1->second == std::vector<int>{allowed[1]});
      CHECK(caf_on_first == 1);  // the one scheduler thread, which runs the gpu-worker
    } else {
      CHECK(pool1->second == allowed);
      CHECK(caf_on_first == 0);
    }
  }
}
