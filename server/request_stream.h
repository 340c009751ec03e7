// One request's events, from the scheduler's thread to the thread answering the
// client: text pieces as they are generated, then one final event. The client's
// side can cancel (a disconnect); the scheduler frees the slot at its next step.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace actinfer::server {

struct StreamEvent {
  std::string text;           // generated text (may be empty)
  bool final = false;         // the last event of the request
  std::string finish_reason;  // on the final event: "stop", "length", or "" with an error
  std::string error;          // on the final event: why the request failed
  int n_prompt = 0;           // on the final event: tokens of the prompt
  int n_generated = 0;        // on the final event: tokens generated
};

class RequestStream {
 public:
  void push(StreamEvent e) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
    }
    ready_.notify_one();
  }
  // The next event, or nullopt when none came within `timeout`.
  std::optional<StreamEvent> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    StreamEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEvent> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace actinfer::server
