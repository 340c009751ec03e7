// Control messages that carry actor handles or trace buffers (kept apart from
// messages.h so data-path code need not include CAF's actor headers).
#pragma once
#include <memory>
#include <vector>

#include "caf/actor.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "trace/trace_buffer.h"

namespace actinfer::protocol {

// driver → every actor, once after spawning: who is who. The handles live in
// the actors' state, which CAF destroys when an actor exits, so no reference
// cycle outlives the explicit shutdown.
struct Wiring {
  caf::actor gpu_worker;
  caf::actor predictor;
  caf::actor merge;
  std::vector<caf::actor> cpu_workers;
};

// actor → driver (reply to CollectTrace): the actor's spans, handed over.
struct TraceHandoff {
  std::shared_ptr<trace::TraceBuffer> buffer;
};

}  // namespace actinfer::protocol

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::Wiring)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actinfer::protocol::TraceHandoff)
