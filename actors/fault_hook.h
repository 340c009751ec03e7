// Fault injection for tests: the runtime calls the hook at named points; a hook that
// throws there stands for a failure at that point (a kernel, a backend, a device). The
// runtime must then end the request with an error, never hang (issue 17).
#pragma once
#include <functional>
#include <string_view>

namespace actinfer {

// Sites: "cpu-worker job" (on a team's lead thread), "gpu-worker backend" (in the actor).
using FaultHook = std::function<void(std::string_view site)>;

inline void fault_point(const FaultHook& hook, std::string_view site) {
  if (hook) hook(site);
}

}  // namespace actinfer
