#include "engine/worker_team.h"

#include <stdexcept>
#include <string>

#include "engine/spin_wait.h"

namespace actinfer {
namespace {
// Between jobs the lead stays awake for the next layer's job, but yields its core
// after a short spin: the actor threads that produce that job need it.
constexpr int kPauseIterations = 2000;
constexpr int kYieldIterations = 2000;
}

WorkerTeam::WorkerTeam(int n_threads, std::function<void(int)> on_start) : n_threads_(n_threads) {
  if (n_threads < 1) throw std::invalid_argument("a worker team needs at least 1 thread, got " + std::to_string(n_threads));
  lead_ = std::jthread([this, on_start] { lead_loop(on_start); });
}

WorkerTeam::~WorkerTeam() {
  stop_.store(true);
  posted_.fetch_add(1);
  posted_.notify_all();
}

void WorkerTeam::post(Job job) {
  job_ = std::move(job);
  posted_.fetch_add(1, std::memory_order_release);
  posted_.notify_all();
}

void WorkerTeam::lead_loop(std::function<void(int)> on_start) {
  if (on_start) on_start(0);
  pool_ = std::make_unique<ThreadPool>(n_threads_, on_start);
  uint64_t seen = 0;
  for (;;) {
    seen = wait_for_change(posted_, seen, {kPauseIterations, kYieldIterations});
    if (stop_.load()) break;
    Job job = std::move(job_);
    job(*pool_);
  }
  pool_.reset();  // joins the pool's threads on this thread
}

}  // namespace actinfer
