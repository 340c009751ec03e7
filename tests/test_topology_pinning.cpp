// Pinning threads and checking configured core sets.
#include <doctest/doctest.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actors/pinning_hook.h"
#include "topology/pinning.h"
#include "tests/text_contains.h"

using namespace actinfer::topology;
using actinfer::testing::contains;

namespace {

std::set<int> thread_affinity() {
  cpu_set_t mask;
  REQUIRE(sched_getaffinity(0, sizeof mask, &mask) == 0);
  std::set<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &mask)) cpus.insert(c);
  return cpus;
}

std::set<int> hwloc_thread_binding(const Topology& t) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  REQUIRE(hwloc_get_cpubind(t.handle(), set, HWLOC_CPUBIND_THREAD) == 0);
  std::set<int> cpus;
  for (int c = hwloc_bitmap_first(set); c >= 0; c = hwloc_bitmap_next(set, c)) cpus.insert(c);
  hwloc_bitmap_free(set);
  return cpus;
}

// Pinning tests run on the test runner's thread: give it back its CPUs afterwards so
// later tests (thread pools, benchmarks) are not squeezed onto one core.
struct AffinityGuard {
  cpu_set_t saved;
  AffinityGuard() { sched_getaffinity(0, sizeof saved, &saved); }
  ~AffinityGuard() { sched_setaffinity(0, sizeof saved, &saved); }
};

}  // namespace

TEST_CASE("pinning: to a real PU of this machine, checked by the kernel and by hwloc") {
  AffinityGuard guard;
  Topology t = Topology::discover();
  const std::set<int> before = thread_affinity();
  const int last = *before.rbegin();  // a PU this process may use

  std::vector<int> one{last};
  PinResult r = pin_current_thread(t, one);
  CHECK(r.pinned);
  CHECK(r.warning.empty());
  CHECK(thread_affinity() == std::set<int>{last});
  CHECK(hwloc_thread_binding(t) == std::set<int>{last});
  sched_yield();
  CHECK(sched_getcpu() == last);

  // A whole node's PUs (a team's usual set).
  std::vector<int> node0 = pus_of_node(t, 0);
  r = pin_current_thread(t, node0);
  CHECK(r.pinned);
  CHECK(thread_affinity() == std::set<int>(node0.begin(), node0.end()));
}

TEST_CASE("pinning: binds only the calling thread") {
  AffinityGuard guard;
  Topology t = Topology::discover();
  const std::set<int> before = thread_affinity();
  std::set<int> inside;
  bool pinned = false;
  std::thread worker([&] {
    std::vector<int> first{*before.begin()};
    pinned = pin_current_thread(t, first).pinned;
    cpu_set_t mask;
    sched_getaffinity(0, sizeof mask, &mask);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &mask)) inside.insert(c);
  });
  worker.join();
  CHECK(pinned);
  CHECK(inside == std::set<int>{*before.begin()});
  CHECK(thread_affinity() == before);
}

TEST_CASE("pinning: a PU that does not exist, or none, leaves the thread unpinned with a warning") {
  AffinityGuard guard;
  Topology t = Topology::discover();
  const std::set<int> before = thread_affinity();
  const int absent = t.pus().back().os_index + 1000;

  std::vector<int> bad{absent};
  PinResult r = pin_current_thread(t, bad);
  CHECK_FALSE(r.pinned);
  CHECK(contains(r.warning, "PU " + std::to_string(absent) + " does not exist in this machine"));
  CHECK(contains(r.warning, "thread runs unpinned"));
  CHECK(thread_affinity() == before);

  std::vector<int> mixed{t.pus().front().os_index, -1, absent};
  r = pin_current_thread(t, mixed);
  CHECK_FALSE(r.pinned);
  CHECK(contains(r.warning, "PUs -1," + std::to_string(absent) + " do not exist"));
  CHECK(thread_affinity() == before);

  r = pin_current_thread(t, std::vector<int>{});
  CHECK_FALSE(r.pinned);
  CHECK(contains(r.warning, "no PUs given"));
  CHECK(thread_affinity() == before);
}

TEST_CASE("pinning: under a synthetic topology it is only planned") {
  AffinityGuard guard;
  const std::set<int> before = thread_affinity();
  Topology t = Topology::synthetic("pack:2 numa:1 core:4 pu:1");
  std::vector<int> node1{4, 5, 6, 7};
  PinResult r = pin_current_thread(t, node1);
  CHECK_FALSE(r.pinned);
  CHECK(contains(r.warning, "pinning to PUs 4-7 is only planned"));
  CHECK(contains(r.warning, "synthetic topology \"pack:2 numa:1 core:4 pu:1\" is not this machine"));
  CHECK(contains(r.warning, "thread runs unpinned"));
  CHECK(thread_affinity() == before);  // hwloc would have said "done" and done nothing

  std::vector<int> absent{8};
  r = pin_current_thread(t, absent);
  CHECK_FALSE(r.pinned);
  CHECK(contains(r.warning, "PU 8 does not exist in synthetic topology"));
  CHECK(contains(r.warning, "(PUs 0-7)"));
}

TEST_CASE("pinning: check_core_set names the bad PU or node") {
  Topology t = Topology::synthetic("pack:2 numa:1 core:4 pu:1");
  auto check = [&](int node, std::vector<int> pus) { return check_core_set(t, node, pus); };
  CHECK_FALSE(check(0, {0, 1, 2, 3}).has_value());
  CHECK_FALSE(check(1, {5, 4}).has_value());

  auto m = check(0, {3, 4});
  REQUIRE(m);
  CHECK(*m == "PU 4 is on NUMA node 1, not NUMA node 0 (which has PUs 0-3)");
  m = check(2, {0});
  REQUIRE(m);
  CHECK(*m == "NUMA node 2 does not exist: synthetic topology \"pack:2 numa:1 core:4 pu:1\" has NUMA nodes 0-1");
  CHECK(check(-1, {0}).has_value());
  m = check(1, {4, 99});
  REQUIRE(m);
  CHECK(*m == "PU 99 does not exist in synthetic topology \"pack:2 numa:1 core:4 pu:1\" (PUs 0-7)");
  m = check(0, {1, 1, 1});
  REQUIRE(m);
  CHECK(*m == "PU 1 is listed more than once");
  m = check(0, {});
  REQUIRE(m);
  CHECK(*m == "core set for NUMA node 0 is empty (the node has PUs 0-3)");
  m = check(0, {5, -2});  // every problem is named, in order
  REQUIRE(m);
  CHECK(contains(*m, "PU 5 is on NUMA node 1"));
  CHECK(contains(*m, "; PU -2 does not exist"));

  // The real machine: its own node-0 PUs pass.
  Topology real = Topology::discover();
  std::vector<int> node0 = pus_of_node(real, 0);
  CHECK_FALSE(check_core_set(real, 0, node0).has_value());
}

TEST_CASE("name_current_thread: the name top -H and perf show, cut to Linux's 15 bytes") {
  std::string short_name, long_name, hooked;
  std::thread([&] {
    char buf[16] = {};
    name_current_thread("gpu-pool-1");
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    short_name = buf;
    name_current_thread("a-name-longer-than-fifteen");
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    long_name = buf;
    // A team's on-start hook names its thread even where nothing is pinned.
    actinfer::actors::pin_threads_to(nullptr, {}, "cpu-worker-1", "cpu1-team-")(3);
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    hooked = buf;
  }).join();
  CHECK(short_name == "gpu-pool-1");
  CHECK(long_name == "a-name-longer-t");
  CHECK(hooked == "cpu1-team-3");
}
