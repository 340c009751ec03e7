#include "model/atomic_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace actinfer {
namespace {

// The signal-time cleanup list: fixed slots of plain bytes, since a signal handler may
// neither allocate nor lock. A slot's path is complete before it is marked ready.
// (The one justified kind of global mutable state: what a signal handler must reach.)
constexpr int kSlots = 32;
constexpr size_t kMaxPath = 4096;
enum : int { kFree = 0, kFilling = 1, kReady = 2 };
struct Slot {
  std::atomic<int> state{kFree};
  char path[kMaxPath];
};
Slot g_slots[kSlots];

int list_for_signals(const std::string& path) {
  if (path.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kFilling)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(kReady, std::memory_order_release);
    return i;
  }
  return -1;  // more than kSlots outputs at once: this one is not removed on a signal
}

void unlist(int slot) {
  if (slot >= 0) g_slots[slot].state.store(kFree, std::memory_order_release);
}

}  // namespace

void unlink_pending_outputs() noexcept {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == kReady) ::unlink(s.path);
}

AtomicOutput::AtomicOutput(std::filesystem::path target) : target_(std::move(target)) {
  const std::string pattern = target_.string() + ".tmp.XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
    throw std::runtime_error("cannot write " + target_.string() + ": cannot create a file in " + dir.string() + ": " +
                             std::strerror(errno));
  }
  ::close(fd);
  temp_ = name.data();
  slot_ = list_for_signals(temp_.string());
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) ::unlink(temp_.c_str());
  unlist(slot_);
}

void AtomicOutput::commit() {
  auto fail = [&](const std::string& what) {
    throw std::runtime_error("cannot write " + target_.string() + ": " + what + ": " + std::strerror(errno));
  };
  // Data on disk before the rename makes it visible: a crash then leaves the old file or the new one.
  const int fd = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot reopen " + temp_.string());
  const int synced = ::fsync(fd);
  const int sync_errno = errno;
  ::close(fd);
  errno = sync_errno;
  if (synced != 0 && errno != EINVAL) fail("fsync of " + temp_.string() + " failed");
  // mkstemp made it 0600; a finished output is readable by all, as fopen's would be under
  // the usual umask (reading the umask would mean changing it, racing other threads).
  ::chmod(temp_.c_str(), 0644);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("cannot rename " + temp_.string() + " onto it");
  committed_ = true;
}

}  // namespace actinfer
