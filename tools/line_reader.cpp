#include "tools/line_reader.h"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>

namespace actinfer::tools {

LineReader::LineReader() : interactive_(::isatty(STDIN_FILENO) == 1) {
  // Ctrl-C is tools/interrupt.h's: libedit must not forward it to the whole process group.
  if (interactive_) rl_catch_signals = 0;
}

std::optional<std::string> LineReader::read(const std::string& prompt) {
  if (!interactive_) {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  const std::unique_ptr<char, decltype(&std::free)> line(readline(prompt.c_str()), &std::free);
  if (!line) return std::nullopt;
  if (*line) add_history(line.get());
  return std::string(line.get());
}

}  // namespace actinfer::tools
