// CAF type ids of every message the actors exchange (each has an `inspect` overload
// in protocol/messages.h or protocol/wiring.h), and their registration with an actor
// system: registered messages can be serialised (binary_serializer, CAF's network layer).
#pragma once
#include "caf/actor_system_config.hpp"
#include "caf/type_id.hpp"
#include "protocol/wiring.h"

CAF_BEGIN_TYPE_ID_BLOCK(actinfer, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::EvalRequest))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::LogitsReply))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::FfnInput))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::FfnPrediction))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::FfnWork))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::FfnPartial))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::FfnOutput))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::JobDone))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::CollectTrace))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::CollectStats))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::PredictorStats))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::Wiring))
CAF_ADD_TYPE_ID(actinfer, (actinfer::protocol::TraceHandoff))
CAF_END_TYPE_ID_BLOCK(actinfer)

namespace actinfer::protocol {

// Registers every message type above under its type id's name.
inline void register_message_types(caf::actor_system_config& cfg) { cfg.add_message_types<caf::id_block::actinfer>(); }

}  // namespace actinfer::protocol
