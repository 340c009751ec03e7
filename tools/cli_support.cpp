#include "tools/cli_support.h"

#include <CLI/CLI.hpp>
#include <cstdlib>

namespace actinfer::tools {

CLI::Validator at_least(long long min) {
  return CLI::Validator(
      [min](std::string& value) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(value.c_str(), &end, 10);
        if (end == value.c_str() || *end != '\0') return "must be a whole number, got '" + value + "'";
        if (errno == ERANGE || v < min) return "must be >= " + std::to_string(min) + ", got " + value;
        return {};
      },
      ">=" + std::to_string(min));
}

CLI::Validator positive_real() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str() || *end != '\0') return "must be a number, got '" + value + "'";
        if (!(v > 0)) return "must be > 0, got " + value;
        return {};
      },
      ">0");
}

}  // namespace actinfer::tools
