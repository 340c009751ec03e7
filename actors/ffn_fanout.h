// Handing a layer's FFN work out to the workers once its active sets are known:
// shared by the predictor actor and by the gpu-worker when its backend runs the
// trained predictors itself (then the gpu-worker computes its own share inline,
// saving two message hops and a thread hand-over per layer).
#pragma once
#include <vector>

#include "actors/neuron_split.h"
#include "protocol/messages.h"
#include "protocol/wiring.h"

namespace actinfer::actors {

// Completes an ActiveSet whose per_token lists are filled: the union flags and their
// count, and drops the lists when the kernels are not sparse (they mask with flags).
void finish_active_set(protocol::ActiveSet& active, int n_neurons, bool sparse);

// Which workers have neurons to compute in `active` (its flags; empty flags: all):
// the cpu-worker teams (in wiring order) and whether the gpu-worker's hot set has any.
struct FfnRecipients {
  std::vector<caf::actor> cpu_workers;
  bool gpu = false;
  int parts() const { return static_cast<int>(cpu_workers.size()) + (gpu ? 1 : 0); }
};
FfnRecipients ffn_recipients(const protocol::Wiring& wiring, const NeuronSplit& split, int layer, const protocol::ActiveSet& active);

// Sends `work` (its n_parts set to r.parts()) to r's cpu-workers, and to the gpu-worker
// when send_to_gpu (false when the gpu-worker computes its share itself); when nobody has
// work, tells merge to expect no partial (the layer's FFN output is zero).
void send_ffn_work(const protocol::Wiring& wiring, const FfnRecipients& r, protocol::FfnWork work, bool send_to_gpu);

}  // namespace actinfer::actors
