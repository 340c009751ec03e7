// Small helpers every actor of the runtime shares.
#pragma once
#include <memory>
#include <string>

#include "protocol/messages.h"
#include "protocol/wiring.h"
#include "trace/trace_buffer.h"

namespace actinfer::actors {

// A fresh [n_tokens][width] tensor (zeros) for a layer.
inline std::shared_ptr<protocol::Tensor> make_tensor(int layer, int n_tokens, int width) {
  auto a = std::make_shared<protocol::Tensor>();
  a->layer = layer;
  a->n_tokens = n_tokens;
  a->width = width;
  a->data.assign(static_cast<size_t>(n_tokens) * width, 0.0f);
  return a;
}

inline uint64_t tensor_bytes(const protocol::TensorPtr& a) { return a ? a->data.size() * sizeof(float) : 0; }

// Records a message's flight from its send time to now.
inline void trace_message(trace::TraceBuffer& buf, const char* name, int layer, int token, int64_t sent_ns, uint64_t bytes) {
  if (buf.enabled() && sent_ns > 0) buf.record({name, trace::SpanKind::Message, layer, token, sent_ns, trace::now_ns(), bytes});
}

inline void trace_job(trace::TraceBuffer& buf, const char* name, const protocol::JobDone& d, int token, uint64_t bytes) {
  if (buf.enabled()) buf.record({name, trace::SpanKind::Compute, d.layer, token, d.start_ns, d.end_ns, bytes});
}

// The actor's spans, copied out for the driver (CollectTrace).
inline protocol::TraceHandoff handoff(const trace::TraceBuffer& buf) { return {buf.actor(), buf.role(), buf.spans()}; }

}  // namespace actinfer::actors
