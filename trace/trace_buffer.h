// The spans of one actor. Owned and touched by that actor only (no locks); at
// shutdown the buffers are moved out and written with write_chrome_trace().
// Disabled, every call returns at once without reading the clock.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trace/span.h"

namespace actinfer::trace {

class TraceBuffer {
 public:
  // RAII: records a Compute span from construction to destruction. Holds a pointer
  // to its buffer (do not move the buffer while a Scope is open) and a view of the
  // name (pass a string that outlives the Scope, e.g. a literal).
  class Scope {
   public:
    Scope() = default;  // inactive: records nothing
    Scope(Scope&& o) noexcept { *this = std::move(o); }
    Scope& operator=(Scope&& o) noexcept {
      if (this != &o) {
        finish();
        buf_ = std::exchange(o.buf_, nullptr);
        name_ = o.name_, layer_ = o.layer_, token_ = o.token_, bytes_ = o.bytes_, start_ = o.start_;
      }
      return *this;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() { finish(); }

    void set_bytes(uint64_t bytes) { bytes_ = bytes; }
    // Records the span now; later calls and the destructor do nothing.
    void finish() {
      if (buf_ == nullptr) return;
      std::exchange(buf_, nullptr)->record(Span{std::string(name_), SpanKind::Compute, layer_, token_, start_, now_ns(), bytes_});
    }

   private:
    friend class TraceBuffer;
    Scope(TraceBuffer* buf, std::string_view name, int layer, int token, uint64_t bytes)
        : buf_(buf), name_(name), layer_(layer), token_(token), bytes_(bytes), start_(now_ns()) {}

    TraceBuffer* buf_ = nullptr;
    std::string_view name_;
    int layer_ = -1, token_ = -1;
    uint64_t bytes_ = 0;
    int64_t start_ = 0;
  };

  static constexpr std::size_t kDefaultReserve = 4096;

  // role: "gpu-worker", "cpu-worker", "predictor", "merge", "driver".
  // Enabled, reserve_spans spans are reserved up front (the vector doubles when full).
  TraceBuffer(std::string actor, std::string role, bool enabled, std::size_t reserve_spans = kDefaultReserve);

  // Appends a span (an end before the start is clamped to the start). No allocation
  // while capacity lasts and the name fits the small-string buffer (15 chars).
  void record(Span s) {
    if (!enabled_) return;
    if (s.end_ns < s.start_ns) s.end_ns = s.start_ns;
    spans_.push_back(std::move(s));
  }

  // A Compute span from now until the Scope ends (inactive when disabled).
  [[nodiscard]] Scope scope(std::string_view name, int layer, int token, uint64_t bytes = 0) {
    return enabled_ ? Scope(this, name, layer, token, bytes) : Scope();
  }

  // A Message span from sent_ns (carried in the message) to now: call on receipt.
  void message(std::string_view name, int layer, int token, int64_t sent_ns, uint64_t bytes = 0) {
    if (enabled_) record(Span{std::string(name), SpanKind::Message, layer, token, sent_ns, now_ns(), bytes});
  }

  const std::string& actor() const { return actor_; }
  const std::string& role() const { return role_; }
  const std::vector<Span>& spans() const { return spans_; }
  bool enabled() const { return enabled_; }

 private:
  std::string actor_;
  std::string role_;
  bool enabled_;
  std::vector<Span> spans_;
};

}  // namespace actinfer::trace
