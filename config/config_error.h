// The one error type of the configuration code. what() is the full message, e.g.
//   "configs/x.conf:12: actinfer.team.1.threads: must be >= 0, got -2"
// source() is the file or source name (or "override 'k=v'"), line() is 1-based (0 when no
// line applies), key() the dotted key ("" for syntax errors outside any key).
#pragma once
#include <stdexcept>
#include <string>

namespace actinfer {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& message, std::string source = {}, int line = 0, std::string key = {})
      : std::runtime_error(message), source_(std::move(source)), line_(line), key_(std::move(key)) {}
  const std::string& source() const { return source_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }

 private:
  std::string source_;
  int line_ = 0;
  std::string key_;
};

}  // namespace actinfer
