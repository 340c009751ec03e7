#include "trace/trace_buffer.h"

namespace actinfer::trace {

TraceBuffer::TraceBuffer(std::string actor, std::string role, bool enabled, std::size_t reserve_spans)
    : actor_(std::move(actor)), role_(std::move(role)), enabled_(enabled) {
  if (enabled_) spans_.reserve(reserve_spans);
}

}  // namespace actinfer::trace
