#include "actors/ffn_fanout.h"

#include "caf/send.hpp"

namespace actinfer::actors {

using namespace protocol;

void finish_active_set(ActiveSet& active, int n_neurons, bool sparse) {
  active.flags.assign(static_cast<size_t>(n_neurons), 0);
  for (const auto& list : active.per_token)
    for (int32_t i : list) active.flags[static_cast<size_t>(i)] = 1;
  active.n_active = 0;
  for (uint8_t f : active.flags) active.n_active += f;
  if (!sparse) active.per_token.clear();
}

FfnRecipients ffn_recipients(const Wiring& wiring, const NeuronSplit& split, int layer, const ActiveSet& active) {
  FfnRecipients r;
  for (size_t i = 0; i < split.team_ranges.size(); ++i)
    if (split.team_has_work(layer, static_cast<int>(i), active.flags)) r.cpu_workers.push_back(wiring.cpu_workers[i]);
  r.gpu = split.hot_has_work(layer, active.flags);
  return r;
}

void send_ffn_work(const Wiring& wiring, const FfnRecipients& r, FfnWork work, bool send_to_gpu) {
  work.n_parts = r.parts();
  // CPU teams first: they only post a job to their own threads and return, while the
  // host gpu-worker computes in its handler; in this order the cold work is under way
  // before the hot work starts (they overlap).
  for (const caf::actor& w : r.cpu_workers) caf::anon_send(w, work);
  if (r.gpu && send_to_gpu) caf::anon_send(wiring.gpu_worker, work);
  if (r.parts() == 0)
    caf::anon_send(wiring.merge, FfnExpect{work.step, work.layer, work.token, 0, work.xn->n_tokens, work.sent_ns});
}

}  // namespace actinfer::actors
