#include "topology/hwloc_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <new>
#include <vector>

namespace actinfer::topology::detail {

Bitmap make_bitmap() {
  Bitmap b(hwloc_bitmap_alloc());
  if (!b) throw std::bad_alloc();
  return b;
}

Bitmap bitmap_of(std::span<const int> indexes) {
  Bitmap b = make_bitmap();
  for (int i : indexes)
    if (i >= 0) hwloc_bitmap_set(b.get(), static_cast<unsigned>(i));
  return b;
}

std::string list_string(hwloc_const_bitmap_t set) {
  if (hwloc_bitmap_iszero(set)) return "none";
  char* text = nullptr;
  if (hwloc_bitmap_list_asprintf(&text, set) < 0 || !text) return "?";
  std::string out(text);
  std::free(text);
  return out;
}

std::string list_string(std::span<const int> indexes) {
  // hwloc bitmaps cannot hold negative indexes; list those plainly rather than drop them.
  if (std::none_of(indexes.begin(), indexes.end(), [](int i) { return i < 0; }))
    return list_string(bitmap_of(indexes).get());
  std::vector<int> sorted(indexes.begin(), indexes.end());
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (int i : sorted) {
    if (!out.empty()) out += ',';
    out += std::to_string(i);
  }
  return out;
}

namespace {

// Joins hwloc's (possibly multi-line, libxml2-formatted) output into one bounded line.
std::string one_line(const std::string& raw) {
  std::string out;
  bool pending_sep = false;
  for (char c : raw) {
    if (c == '\n' || c == '\r') {
      pending_sep = !out.empty();
      continue;
    }
    if (pending_sep) out += " | ";
    pending_sep = false;
    out += c;
  }
  constexpr size_t kMax = 800;
  if (out.size() > kMax) out = out.substr(0, kMax) + "...";
  return out;
}

}  // namespace

std::string hwloc_complaint(const char* verbose_env, const std::function<int(hwloc_topology_t)>& attempt) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "";
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return "";
  }
  if (pid == 0) {
    // Child: only hwloc and its stderr; _exit so the parent's stdio buffers are not flushed twice.
    dup2(fds[1], STDERR_FILENO);
    setenv(verbose_env, "1", 1);
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) == 0) attempt(t);
    _exit(0);
  }
  close(fds[1]);
  // Bounded wait: a child stuck on a lock inherited mid-operation from another thread
  // must not hang the caller; it is killed and the caller falls back to errno's text.
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool done = false;
  while (!done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[1024];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) done = true;
    else if (raw.size() < 64 * 1024) raw.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (!done) kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return one_line(raw);
}

}  // namespace actinfer::topology::detail
