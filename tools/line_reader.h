// Lines typed at `actinfer chat`: edited with libedit (arrows, Ctrl-R search,
// in-session history) when standard input is a terminal, read plainly from a
// pipe or file otherwise (scripted conversations, one turn per line).
#pragma once
#include <optional>
#include <string>

namespace actinfer::tools {

class LineReader {
 public:
  LineReader();
  // The next line without its newline; nullopt at end of input (Ctrl-D).
  std::optional<std::string> read(const std::string& prompt);
  bool interactive() const { return interactive_; }

 private:
  bool interactive_;
};

}  // namespace actinfer::tools
