// A test case that cannot run here (no CUDA device, no default model) says why and is
// reported Skipped, not Passed: it prints a marker that ctest's SKIP_REGULAR_EXPRESSION turns
// into "Skipped" (tests/CMakeLists.txt); a plain doctest run shows the message.
#pragma once
#include <doctest/doctest.h>

#include <iostream>
#include <sstream>
#include <string>

namespace actinfer::test {

inline void report_skipped(const std::string& why) {
  MESSAGE(why);
  std::cout << "[actinfer-skipped] " << why << std::endl;
}

}  // namespace actinfer::test

// ACTINFER_REPORT_SKIPPED("no device: " << reason): MESSAGE's stream syntax; the caller returns.
#define ACTINFER_REPORT_SKIPPED(...)                                 \
  do {                                                               \
    std::ostringstream actinfer_skip_text;                           \
    actinfer_skip_text << __VA_ARGS__;                               \
    ::actinfer::test::report_skipped(actinfer_skip_text.str());      \
  } while (0)
