#include "tools/interrupt.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>

#include "model/atomic_output.h"

namespace actinfer::tools::interrupt {
namespace {

// The signal state: written by the handler, read by the loops. Lock-free atomics
// only, so the handler stays async-signal-safe.
std::atomic<int> g_signal{0};
std::atomic<int> g_count{0};
std::array<std::atomic<const char*>, 16> g_temporary{};

void on_signal(int sig) {
  if (g_count.fetch_add(1) == 0) {
    g_signal.store(sig);
    constexpr char kNote[] = "\n[actinfer] interrupted: stopping (again to quit at once)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kNote, sizeof kNote - 1);
    return;
  }
  for (auto& slot : g_temporary)
    if (const char* path = slot.load()) ::unlink(path);
  unlink_pending_outputs();  // the whole-output writers' temporaries (model/atomic_output.h)
  ::_exit(128 + sig);
}

}  // namespace

void install() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool requested() { return g_signal.load() != 0; }
int signal_number() { return g_signal.load(); }

void clear() {
  g_signal.store(0);
  g_count.store(0);
}

void throw_if_requested() {
  if (requested()) throw Interrupted();
}

TemporaryFile::TemporaryFile(std::string path) : path_(std::move(path)) {
  for (size_t i = 0; i < g_temporary.size(); ++i) {
    const char* expected = nullptr;
    if (g_temporary[i].compare_exchange_strong(expected, path_.c_str())) {
      slot_ = static_cast<int>(i);
      return;
    }
  }
  throw std::length_error("more than 16 temporary files at once");
}

void TemporaryFile::release() {
  if (slot_ >= 0) g_temporary[static_cast<size_t>(slot_)].store(nullptr);
  slot_ = -1;
}

TemporaryFile::~TemporaryFile() {
  if (slot_ < 0) return;
  release();
  std::remove(path_.c_str());
}

}  // namespace actinfer::tools::interrupt
