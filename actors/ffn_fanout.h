// A layer's active set, completed and handed out: which cpu-workers have neurons
// to compute in it. Used by the gpu-worker (it owns every layer) and, for the
// active set alone, by the predictor actor.
#pragma once
#include <vector>

#include "actors/neuron_split.h"
#include "protocol/messages.h"
#include "protocol/wiring.h"

namespace actinfer::actors {

// Whether a forward step of n_tokens runs the sparse kernels: they are configured and the
// step holds at most `crossover` tokens. Above it the batch's union of active neurons nears
// all of them, and the dense kernels (tiled GEMM) on that union are faster
// (DeploymentConfig::sparse_dense_crossover). Dense steps hand out the union's flags only.
inline bool sparse_step(bool sparse, int n_tokens, int crossover) { return sparse && n_tokens <= crossover; }

// Completes an ActiveSet whose per_token lists are filled: the union flags, and drops
// the lists when the kernels are not sparse (they mask with flags).
void finish_active_set(protocol::ActiveSet& active, int n_neurons, bool sparse);

// Every neuron for B tokens (no prediction): empty flags, and with sparse kernels
// B lists of all n_neurons indices.
protocol::ActiveSetPtr every_neuron(int n_tokens, int n_neurons, bool sparse);

// The cpu-workers (in wiring order) with neurons to compute in `active` (its flags;
// empty flags: all).
std::vector<protocol::CpuWorkerActor> cold_recipients(const protocol::Wiring& wiring, const NeuronSplit& split, int layer,
                                                      const protocol::ActiveSet& active);

}  // namespace actinfer::actors
