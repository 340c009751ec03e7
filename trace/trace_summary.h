// What a trace says about the pipeline: per-actor busy time, hot/cold FFN overlap,
// messages per token, per-layer critical path. `actinfer trace FILE` prints it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "trace/trace_buffer.h"

namespace actinfer::trace {

struct ActorSummary {
  std::string actor, role;
  double busy_fraction = 0;  // compute_ms / TraceSummary::wall_ms
  double compute_ms = 0;     // union of the actor's Compute spans (nested scopes count once)
  double message_ms = 0;     // sum of the flights of the messages it received (Message spans)
  double wait_ms = 0;        // union of its Wait spans
  int64_t n_spans = 0;
};

// Per span name: where the time goes.
struct NameSummary {
  std::string name;
  SpanKind kind = SpanKind::Compute;
  int64_t count = 0;
  double total_ms = 0;  // sum of durations
  double mean_us = 0;
};

struct TraceSummary {
  double wall_ms = 0;  // first span start to last span end, all actors
  int n_tokens = 0;    // distinct token ids >= 0
  std::vector<ActorSummary> actors;  // in buffer order
  // Fraction of cold-FFN compute time (role "cpu-worker", name starting "ffn_cold")
  // that overlaps hot-FFN compute (role "gpu-worker", name "ffn_hot") of the same
  // layer and token; 0 when there is no cold-FFN time.
  double hot_cold_overlap = 0;
  // The other way round: the fraction of hot-FFN compute time during which cold
  // work of the same layer and token runs (1: the hot work never runs alone).
  double hot_covered_by_cold = 0;
  double messages_per_token = 0;  // Message spans / n_tokens (0 without tokens)
  // Mean over (token, layer) pairs, both >= 0, of the last span end minus the first
  // span start among that pair's spans (all kinds, all actors).
  double mean_layer_critical_path_us = 0;
  int64_t n_layer_paths = 0;  // (token, layer) pairs in that mean
  double messaging_ms = 0;    // sum of Message span durations
  double compute_ms = 0;      // sum over actors of ActorSummary::compute_ms
  std::vector<NameSummary> names;  // by total_ms, largest first
};

TraceSummary summarize(std::span<const TraceBuffer> buffers);
// Reads a file written by write_chrome_trace(); throws std::runtime_error naming
// the file when it is missing, not JSON, or not an actinfer trace.
TraceSummary summarize(const std::filesystem::path& chrome_json);

std::string format_summary(const TraceSummary& s);  // the table `actinfer trace` prints
std::string summary_json(const TraceSummary& s);    // the same as a JSON object (`actinfer trace --json`)

}  // namespace actinfer::trace
