// What every subcommand shares about the command line itself: the exit-code
// scheme, the error a bad flag raises, and range checks whose messages read
// "must be >= 0, got -1" (CLI11's own print the type's whole range).
#pragma once
#include <stdexcept>
#include <string>

namespace CLI { class Validator; }

namespace actinfer::tools {

// Exit codes of `actinfer` (README "Exit codes"): 0 success, 1 a runtime error
// (a file missing, a model refused, a device failing), 2 a usage error (an
// unknown subcommand or flag, a value out of range), 128 + N stopped by
// signal N (130 for Ctrl-C).
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;

// A flag or argument is wrong; main() exits with kExitUsage.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Integer checks with readable messages: "must be >= 1, got 0".
CLI::Validator at_least(long long min);
// Real-valued: "must be > 0, got -0.5".
CLI::Validator positive_real();

}  // namespace actinfer::tools
