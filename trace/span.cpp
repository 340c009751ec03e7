#include "trace/span.h"

namespace actinfer::trace {

std::string_view kind_name(SpanKind kind) {
  switch (kind) {
    case SpanKind::Compute: return "compute";
    case SpanKind::Message: return "message";
    case SpanKind::Wait: return "wait";
  }
  return "unknown";
}

std::optional<SpanKind> parse_kind(std::string_view name) {
  for (SpanKind k : {SpanKind::Compute, SpanKind::Message, SpanKind::Wait})
    if (kind_name(k) == name) return k;
  return std::nullopt;
}

}  // namespace actinfer::trace
