// Continuous batching: N slots (one KV-cache region each) filled from a bounded
// queue as requests arrive. Every forward step carries the next token of every
// decoding sequence plus a bounded chunk of one waiting prompt; a sequence that
// finishes or whose client left frees its slot at the next step. One thread runs
// the steps; requests and their events cross threads through RequestStream.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_evaluator.h"
#include "engine/sampler.h"
#include "model/tokenizer.h"
#include "server/request_stream.h"

namespace actinfer::server {

struct CompletionRequest {
  std::vector<int32_t> prompt;   // not empty, shorter than the slot context
  int max_tokens = 128;          // tokens to generate at most
  SamplerParams sampling;
  std::vector<std::string> stop;  // stop strings (not part of the returned text)
  bool ignore_eos = false;        // generate max_tokens even past an end-of-generation token (benchmarks)
};

struct SchedulerOptions {
  int max_queue = 64;       // waiting requests beyond the slots; more are refused
  int prefill_chunk = 64;   // prompt tokens per step (bounded by the evaluator's step size)
};

// Counters for /metrics (monotonic unless noted).
struct SchedulerStats {
  uint64_t requests_ok = 0, requests_cancelled = 0, requests_failed = 0;
  uint64_t prompt_tokens = 0, generated_tokens = 0;
  uint64_t steps = 0;
  double busy_seconds = 0;     // time spent in forward steps
  double uptime_seconds = 0;
  int queue_depth = 0;         // now
  int active_sequences = 0;    // now
  double decode_tokens_per_second = 0;  // over the last few seconds of steps
};

class SlotScheduler {
 public:
  SlotScheduler(BatchEvaluator& evaluator, const Tokenizer& tokenizer, SchedulerOptions options);
  ~SlotScheduler();  // stops and joins the step thread (in-flight requests end with an error)
  SlotScheduler(const SlotScheduler&) = delete;
  SlotScheduler& operator=(const SlotScheduler&) = delete;

  // Queues a request; nullptr when the queue is full. Throws std::invalid_argument
  // when the prompt is empty or does not fit a slot.
  std::shared_ptr<RequestStream> submit(CompletionRequest request);
  // Stops taking requests; lets running ones finish for up to `grace`, then ends them.
  void drain(std::chrono::milliseconds grace);
  SchedulerStats stats() const;
  int n_slots() const { return evaluator_.n_slots(); }
  int n_ctx() const { return evaluator_.n_ctx(); }

 private:
  struct Sequence;
  void loop();
  void step(std::vector<Sequence>& slots);
  void finish(Sequence& s, const std::string& reason, const std::string& error = {});

  BatchEvaluator& evaluator_;
  const Tokenizer& tokenizer_;
  SchedulerOptions options_;
  mutable std::mutex mutex_;  // guards queue_, stats_, stopping_, draining_
  std::condition_variable wake_;
  std::deque<std::pair<CompletionRequest, std::shared_ptr<RequestStream>>> queue_;
  SchedulerStats stats_;
  bool draining_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point started_;
  std::jthread thread_;
};

}  // namespace actinfer::server
