// Ctrl-C and SIGTERM for the long-running subcommands.
//
// install() sets SIGINT/SIGTERM handlers. The first signal only sets a flag
// (the one justified global state of the program) that the token and chunk
// loops poll: they stop cleanly, `run` prints its stats and writes its trace,
// commands that write files leave none half-written, and main() exits with
// 128 + the signal (130 for Ctrl-C). A second signal exits at once, with the
// same code, after removing every registered TemporaryFile.
//
// Writers: write to a temporary path held by a TemporaryFile, rename it over
// the final path when complete, then release() it:
//   interrupt::TemporaryFile tmp(out + ".tmp");
//   write(tmp.path()); std::filesystem::rename(tmp.path(), out); tmp.release();
// An exception (e.g. Interrupted) or a second signal before release() removes it.
#pragma once
#include <stdexcept>
#include <string>

namespace actinfer::tools::interrupt {

// Installs the handlers (idempotent).
void install();
// A signal arrived since install() or the last clear().
bool requested();
// The signal that arrived (SIGINT, SIGTERM), 0 when none.
int signal_number();
// Forgets a signal once handled (chat: Ctrl-C stopped a reply; the next may run).
void clear();

// Thrown by loops that stop on requested(); main() prints it and exits 128 + signal.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};
// Throws Interrupted when a signal arrived.
void throw_if_requested();

// A file under construction: removed by the destructor unless release()d, and by
// a second signal while registered. At most 16 are registered at once (more
// throw std::length_error).
class TemporaryFile {
 public:
  explicit TemporaryFile(std::string path);
  ~TemporaryFile();
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::string& path() const { return path_; }
  // The file is complete (or renamed away): leave it and unregister.
  void release();

 private:
  std::string path_;
  int slot_ = -1;
};

}  // namespace actinfer::tools::interrupt
