// Whole outputs: a file is written under a temporary name in its own directory and
// renamed over the target only once complete, so a reader never sees half a file and a
// failed write (disk full, read-only directory, an exception, SIGINT/SIGTERM) leaves the
// previous file, if any, as it was and no temporary behind.
//
//   AtomicOutput out(path);          // creates "<path>.tmp.XXXXXX" (exclusively)
//   ... write out.temp_path() ...    // any API: FILE*, ofstream, a library
//   out.commit();                    // fsync, then rename onto path
//   // leaving scope without commit() removes the temporary
//
// While it exists the temporary is listed where a signal handler can unlink it
// (unlink_pending_outputs(), async-signal-safe; tools/interrupt.h installs the handlers).
#pragma once
#include <filesystem>

namespace actinfer {

class AtomicOutput {
 public:
  // Throws std::runtime_error naming the directory when the temporary cannot be created.
  explicit AtomicOutput(std::filesystem::path target);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  // Flushes the temporary to disk and renames it onto the target. Throws std::runtime_error
  // naming the file (the temporary is then removed by the destructor).
  void commit();

 private:
  std::filesystem::path target_, temp_;
  int slot_ = -1;  // in the signal-time cleanup list; -1: not listed
  bool committed_ = false;
};

// Unlinks every temporary of a live AtomicOutput. Async-signal-safe: for signal handlers.
void unlink_pending_outputs() noexcept;

}  // namespace actinfer
