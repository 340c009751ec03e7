// Which cores the host gpu-worker's threads are pinned to. Beside another process on a
// machine whose every core runs one of our compute threads, an unpinned thread that slept
// (between tokens) can be woken onto the core of its partner: the two then take turns on
// one core for tens of milliseconds, since the load balancer leaves threads that just ran
// where they are (docs/journal.md, 2026-12-04, seventh session: decode kept 0.83 of its
// quiet speed beside a nice-19 process unpinned, 0.99 pinned). With a core to spare, a
// woken thread finds an idle core instead, and pinning would only take flexibility away.
#pragma once
#include <span>
#include <vector>

#include "config/deployment_config.h"

namespace actinfer {

// The PUs to pin the host backend's threads to, thread i to element i % size, the calling
// thread of each step (the CAF thread that runs the gpu-worker) included; empty: unpinned.
// host-cores when given; else, with host-pinning auto, the process's allowed PUs
// (`allowed_pus`, ascending) when the host threads (resolved, >= 2) are exactly as many,
// on the real machine's topology, with one CAF scheduler thread (more would each be pinned
// in turn as the gpu-worker moves between them).
std::vector<int> host_thread_pus(const DeploymentConfig& config, std::span<const int> allowed_pus);

// Whether the thread calling the host backend's steps is pinned too (to the first PU): with
// one CAF scheduler thread, that thread is the gpu-worker's alone.
bool pin_host_caller(const DeploymentConfig& config);

}  // namespace actinfer
