// The actors' typed interfaces (which messages each accepts and what it answers), and
// the control messages that carry actor handles or trace spans (kept apart from
// messages.h so data-path code need not include CAF's actor headers).
#pragma once
#include <string>
#include <vector>

#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"
#include "protocol/messages.h"
#include "trace/span.h"

namespace actinfer::trace {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Span& x) {
  return f(caf::meta::type_name("Span"), x.name, x.kind, x.layer, x.token, x.start_ns, x.end_ns, x.bytes);
}
}  // namespace actinfer::trace

namespace actinfer::protocol {

struct Wiring;
// actor → driver (reply to CollectTrace): the actor's spans, handed over by value.
struct TraceHandoff {
  std::string actor;
  std::string role;
  std::vector<trace::Span> spans;
};

// Owns every layer: attention, the hot FFN share, the residual, the output head.
using GpuWorkerActor = caf::typed_actor<caf::reacts_to<Wiring>, caf::replies_to<EvalRequest>::with<LogitsReply>,
                                        caf::reacts_to<FfnPartial>, caf::reacts_to<FfnOutput>,
                                        caf::replies_to<CollectStats>::with<PredictorStats>,
                                        caf::replies_to<CollectTrace>::with<TraceHandoff>>;
// The cold neurons of one shard, computed by its team (JobDone: from the team's thread).
using CpuWorkerActor = caf::typed_actor<caf::reacts_to<Wiring>, caf::reacts_to<FfnWork>, caf::reacts_to<JobDone>,
                                        caf::replies_to<CollectTrace>::with<TraceHandoff>>;
// Sums the cold partials of two or more cpu-workers.
using MergeActor = caf::typed_actor<caf::reacts_to<Wiring>, caf::reacts_to<FfnPartial>, caf::replies_to<CollectTrace>::with<TraceHandoff>>;
// Predicts a layer's active neurons when the gpu-worker cannot (threshold; trained with recall checks).
using PredictorActor = caf::typed_actor<caf::replies_to<FfnInput>::with<FfnPrediction>, caf::replies_to<CollectStats>::with<PredictorStats>,
                                        caf::replies_to<CollectTrace>::with<TraceHandoff>>;

// driver → gpu-worker, merge and cpu-workers, once after spawning: who is who. The
// handles live in the actors' state, which CAF destroys when an actor exits, so no
// reference cycle outlives the explicit shutdown. `predictor` is invalid when the
// gpu-worker needs none.
struct Wiring {
  GpuWorkerActor gpu_worker;
  PredictorActor predictor;
  MergeActor merge;
  std::vector<CpuWorkerActor> cpu_workers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Wiring& x) {
  return f(caf::meta::type_name("Wiring"), x.gpu_worker, x.predictor, x.merge, x.cpu_workers);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TraceHandoff& x) {
  return f(caf::meta::type_name("TraceHandoff"), x.actor, x.role, x.spans);
}

}  // namespace actinfer::protocol

