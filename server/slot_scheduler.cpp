#include "server/slot_scheduler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "server/stop_strings.h"

namespace actinfer::server {

struct SlotScheduler::Sequence {
  std::shared_ptr<RequestStream> stream;  // null: the slot is free
  CompletionRequest request;
  std::vector<int32_t> tokens;  // prompt, then the generated tokens
  size_t n_fed = 0;             // tokens of `tokens` in the slot's KV cache
  int n_generated = 0;
  std::unique_ptr<Sampler> sampler;
  Utf8StreamDecoder utf8;
  std::unique_ptr<StopStrings> stops;
  bool active() const { return stream != nullptr; }
};

SlotScheduler::SlotScheduler(BatchEvaluator& evaluator, const Tokenizer& tokenizer, SchedulerOptions options)
    : evaluator_(evaluator), tokenizer_(tokenizer), options_(options), started_(std::chrono::steady_clock::now()) {
  if (options_.max_queue < 0) throw std::invalid_argument("queue size must be >= 0, got " + std::to_string(options_.max_queue));
  if (options_.prefill_chunk <= 0) throw std::invalid_argument("prefill chunk must be positive, got " + std::to_string(options_.prefill_chunk));
  thread_ = std::jthread([this] { loop(); });
}

SlotScheduler::~SlotScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

std::shared_ptr<RequestStream> SlotScheduler::submit(CompletionRequest request) {
  if (request.prompt.empty()) throw std::invalid_argument("the prompt is empty");
  if (static_cast<int64_t>(request.prompt.size()) >= evaluator_.n_ctx())
    throw std::invalid_argument("the prompt has " + std::to_string(request.prompt.size()) + " tokens; a slot's context holds " +
                                std::to_string(evaluator_.n_ctx()) + " (prompt and generated tokens)");
  if (request.max_tokens < 0) throw std::invalid_argument("max_tokens must be >= 0, got " + std::to_string(request.max_tokens));
  request.sampling.validate();
  auto stream = std::make_shared<RequestStream>();
  {
    std::lock_guard lock(mutex_);
    if (draining_ || stopping_) return nullptr;
    int active = stats_.active_sequences;
    if (static_cast<int>(queue_.size()) >= options_.max_queue + std::max(0, evaluator_.n_slots() - active)) return nullptr;
    queue_.emplace_back(std::move(request), stream);
    stats_.queue_depth = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
  return stream;
}

void SlotScheduler::drain(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::unique_lock lock(mutex_);
  draining_ = true;
  wake_.notify_all();
  wake_.wait_until(lock, deadline, [&] { return queue_.empty() && stats_.active_sequences == 0; });
  stopping_ = true;
  lock.unlock();
  wake_.notify_all();
}

SchedulerStats SlotScheduler::stats() const {
  std::lock_guard lock(mutex_);
  SchedulerStats s = stats_;
  s.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return s;
}

void SlotScheduler::finish(Sequence& s, const std::string& reason, const std::string& error) {
  StreamEvent e;
  e.final = true;
  e.finish_reason = reason;
  e.error = error;
  if (error.empty() && s.stops) {  // two statements: the operands of + are not sequenced
    e.text = s.stops->push(s.utf8.flush());
    e.text += s.stops->flush();
  }
  e.n_prompt = static_cast<int>(s.request.prompt.size());
  e.n_generated = s.n_generated;
  const bool cancelled = s.stream->cancelled();
  {
    std::lock_guard lock(mutex_);
    if (cancelled) ++stats_.requests_cancelled;
    else if (!error.empty()) ++stats_.requests_failed;
    else ++stats_.requests_ok;
    stats_.prompt_tokens += s.request.prompt.size();
    stats_.generated_tokens += static_cast<uint64_t>(s.n_generated);
    stats_.active_sequences = std::max(0, stats_.active_sequences - 1);
  }
  s.stream->push(std::move(e));  // after the counts, so a client that got its answer sees them
  s = Sequence{};
  wake_.notify_all();  // drain() waits for the last one
}

void SlotScheduler::loop() {
  std::vector<Sequence> slots(static_cast<size_t>(evaluator_.n_slots()));
  auto n_active = [&] { return static_cast<int>(std::count_if(slots.begin(), slots.end(), [](const Sequence& s) { return s.active(); })); };
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const int active = n_active();
      wake_.wait(lock, [&] { return stopping_ || active > 0 || !queue_.empty(); });
      if (stopping_) {
        while (!queue_.empty()) {
          StreamEvent e;
          e.final = true;
          e.error = "the server is shutting down";
          queue_.front().second->push(std::move(e));
          ++stats_.requests_failed;
          queue_.pop_front();
        }
        lock.unlock();
        for (Sequence& s : slots)
          if (s.active()) finish(s, "", "the server is shutting down");
        std::lock_guard relock(mutex_);
        stats_.active_sequences = 0;
        stats_.queue_depth = 0;
        wake_.notify_all();
        return;
      }
      // Free slots take waiting requests, oldest first.
      for (size_t i = 0; i < slots.size() && !queue_.empty(); ++i) {
        if (slots[i].active()) continue;
        Sequence& s = slots[i];
        auto [request, stream] = std::move(queue_.front());
        queue_.pop_front();
        s.stream = std::move(stream);
        s.request = std::move(request);
        s.tokens = s.request.prompt;
        s.sampler = std::make_unique<Sampler>(s.request.sampling);
        s.stops = std::make_unique<StopStrings>(s.request.stop);
        evaluator_.rewind(static_cast<int>(i), 0);
      }
      stats_.queue_depth = static_cast<int>(queue_.size());
      stats_.active_sequences = n_active();  // with the queue, so submit() never counts a request twice
    }
    for (Sequence& s : slots) {
      if (!s.active()) continue;
      if (s.stream->cancelled()) finish(s, "", "cancelled by the client");
      else if (s.request.max_tokens == 0) finish(s, "length");
    }
    {
      std::lock_guard lock(mutex_);
      stats_.active_sequences = n_active();
    }
    wake_.notify_all();  // drain() waits for the count to reach zero
    if (n_active() > 0) step(slots);
  }
}

void SlotScheduler::step(std::vector<Sequence>& slots) {
  // Decoding sequences first (one token each), then prompt chunks within the step's budget.
  int budget = evaluator_.max_step_tokens();
  std::vector<SequenceChunk> chunks;
  for (size_t i = 0; i < slots.size() && budget > 0; ++i) {
    Sequence& s = slots[i];
    if (s.active() && s.n_fed >= s.request.prompt.size()) {
      chunks.push_back({static_cast<int>(i), std::span<const int32_t>(s.tokens).subspan(s.n_fed, 1)});
      --budget;
    }
  }
  for (size_t i = 0; i < slots.size() && budget > 0; ++i) {
    Sequence& s = slots[i];
    if (!s.active() || s.n_fed >= s.request.prompt.size()) continue;
    const size_t n = std::min({s.request.prompt.size() - s.n_fed, static_cast<size_t>(budget), static_cast<size_t>(options_.prefill_chunk)});
    chunks.push_back({static_cast<int>(i), std::span<const int32_t>(s.tokens).subspan(s.n_fed, n)});
    budget -= static_cast<int>(n);
  }
  if (chunks.empty()) return;

  const auto t0 = std::chrono::steady_clock::now();
  try {
    evaluator_.eval(chunks);
  } catch (const std::exception& e) {
    for (const SequenceChunk& c : chunks) finish(slots[static_cast<size_t>(c.slot)], "", std::string("evaluation failed: ") + e.what());
    return;
  }
  const auto t1 = std::chrono::steady_clock::now();
  int n_sampled = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    Sequence& s = slots[static_cast<size_t>(chunks[ci].slot)];
    s.n_fed += chunks[ci].tokens.size();
    if (s.n_fed < s.tokens.size()) continue;  // more of the prompt to come
    const std::span<const float> logits = evaluator_.logits(static_cast<int>(ci));
    const int32_t t = s.sampler->sample(logits, s.tokens);
    if (!std::isfinite(logits[static_cast<size_t>(t)])) {
      finish(s, "", "the model produced non-finite logits");
      continue;
    }
    ++s.n_generated;
    ++n_sampled;
    if (!s.request.ignore_eos && tokenizer_.is_end_of_generation(t)) {
      finish(s, "stop");
      continue;
    }
    const std::string text = s.stops->push(s.utf8.push(tokenizer_.token_piece(t)));
    if (!text.empty()) {
      StreamEvent e;
      e.text = text;
      s.stream->push(std::move(e));
    }
    if (s.stops->stopped()) finish(s, "stop");
    else if (s.n_generated >= s.request.max_tokens || static_cast<int>(s.tokens.size()) + 1 > evaluator_.n_ctx()) finish(s, "length");
    else s.tokens.push_back(t);
  }
  std::lock_guard lock(mutex_);
  ++stats_.steps;
  const double dt = std::chrono::duration<double>(t1 - t0).count();
  stats_.busy_seconds += dt;
  // Decode rate as an exponential average over steps (about the last 32).
  if (dt > 0) {
    const double rate = n_sampled / dt;
    stats_.decode_tokens_per_second = stats_.steps == 1 ? rate : 0.97 * stats_.decode_tokens_per_second + 0.03 * rate;
  }
}

}  // namespace actinfer::server
