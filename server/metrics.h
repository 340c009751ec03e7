// /metrics in Prometheus' text format: requests by outcome, tokens, decode rate,
// queue depth, active sequences and how busy the compute side is.
#pragma once
#include <cstdint>
#include <string>

#include "server/slot_scheduler.h"

namespace actinfer::server {

struct HttpCounters {
  uint64_t rejected = 0;  // refused before reaching the scheduler (4xx, queue full)
};

std::string prometheus_text(const SchedulerStats& s, const HttpCounters& http, int n_slots);

}  // namespace actinfer::server
