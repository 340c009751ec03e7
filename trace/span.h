// One traced interval of an actor's time: a computation, a message's flight, or a wait.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace actinfer::trace {

// Compute: the actor working. Message: a message's flight, from its send time
// (carried in the message) to the receiver's handling, recorded by the receiver.
// Wait: the actor idle, waiting for inputs (optional).
enum class SpanKind : uint8_t { Compute, Message, Wait };

// "compute", "message", "wait": the Chrome trace "cat" of a span.
std::string_view kind_name(SpanKind kind);
std::optional<SpanKind> parse_kind(std::string_view name);

struct Span {
  std::string name;  // "attention", "ffn_hot", "ffn_cold", "predict", "merge", "lm_head", "msg:activation", ...
  SpanKind kind = SpanKind::Compute;
  int layer = -1;  // -1: not tied to a layer
  int token = -1;  // -1: not tied to a token
  int64_t start_ns = 0;  // now_ns() clock
  int64_t end_ns = 0;
  uint64_t bytes = 0;  // payload size (messages) or bytes processed, 0 if unknown
};

// Steady-clock nanoseconds; the clock of every span (all actors share one process).
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace actinfer::trace
