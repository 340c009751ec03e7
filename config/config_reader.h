// Reader for the INI-like format of the deployment configs (CAF 0.17's config-file
// syntax: [section] headers, key = value, "strings", 'atoms', integers, reals, true/false,
// [lists] and { key = value } maps; ';' starts a comment). CAF 0.18 dropped its reader, and
// CAF's was recursive (a list nested 50000 deep overflowed the stack), so this one is ours:
// one pass over the text with an explicit stack, nesting bounded, NUL bytes refused.
// It only reads syntax; what the keys mean is config/deployment_config.cpp's business.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"

namespace actinfer {

// Lists and maps nested deeper than this are refused (a real config nests two levels).
inline constexpr size_t kMaxConfigDepth = 32;
// Larger config files are refused (a real one is a few KiB).
inline constexpr size_t kMaxConfigBytes = size_t{1} << 20;

struct ConfigValue {
  enum class Kind { string, atom, integer, real, boolean, list };
  Kind kind = Kind::string;
  std::string text;  // string, atom
  int64_t integer = 0;
  double real = 0;
  bool boolean = false;
  std::vector<ConfigValue> list;

  // "string", "atom", "integer", "real", "boolean", "list".
  std::string_view type_name() const;
  // As it would be written in a file: "x", 'x', 12, 0.5, true, [1, 2].
  std::string to_string() const;
};

// One event of the file, in order: a section header or `key { ... }` map opened at
// `path`, or a value at `path`. Paths are dotted: "actinfer.team.0.threads"; keys
// before any section header are under "global".
struct ConfigEntry {
  bool section = false;
  std::string path;
  ConfigValue value;
  int line = 0;  // 1-based line of the key (or header)
};

// Reads the text. Throws ConfigError "source:line:column: [key: ]what; hint" followed by
// the offending line and a caret.
std::vector<ConfigEntry> read_config_text(std::string_view text, const std::string& source);

// The bytes of a config file: only a regular file (checked with stat before it is opened,
// and opened non-blocking, so a FIFO or a device never blocks or streams forever), at
// most kMaxConfigBytes. Throws ConfigError naming the file.
std::string read_config_file(const std::filesystem::path& file);

}  // namespace actinfer
