#include "tools/text_input.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace actinfer::tools {

std::string read_text_file(const std::string& path, const std::string& hint) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error("text file '" + path + "' not found (" + hint + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read text file '" + path + "'");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) throw std::runtime_error("text file '" + path + "' is empty");
  return text;
}

std::string format_duration(double s) {
  char buf[32];
  const int t = static_cast<int>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm%02ds", t / 3600, t / 60 % 60, t % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

std::vector<int32_t> tokenize_document(const Tokenizer& tokenizer, const std::string& text) {
  std::vector<int32_t> tokens;
  if (tokenizer.add_bos()) tokens.push_back(tokenizer.bos());
  const auto body = tokenizer.encode(text, false, false);
  tokens.insert(tokens.end(), body.begin(), body.end());
  return tokens;
}

}  // namespace actinfer::tools

#include <sys/stat.h>
#include <unistd.h>

#include <iostream>

namespace actinfer::tools {

std::string read_stdin_text() {
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) throw std::runtime_error("standard input is empty: nothing to use as the prompt");
  return text;
}

bool stdin_is_piped() {
  struct stat st {};
  if (::fstat(STDIN_FILENO, &st) != 0) return false;
  return S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode);
}

}  // namespace actinfer::tools
