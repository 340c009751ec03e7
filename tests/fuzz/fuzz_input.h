// Shared by the libFuzzer targets (tests/fuzz/README.md): the input as a file (the readers
// under test open paths), and the rule every target checks: bad input ends in an exception
// naming the problem; a crash, hang, sanitizer report or huge allocation is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

namespace actinfer::fuzz {

// One file per target and process, rewritten for each input (tmpfs when there is one).
inline std::filesystem::path write_input(const uint8_t* data, size_t size, std::string_view target) {
  const std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const auto path = dir / ("actinfer-fuzz-" + std::string(target) + "-" + std::to_string(::getpid()) + ".bin");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Runs `body`; an error the code reports on purpose is a pass. Out of memory and
// std::length_error mean a size from the input reached an allocation unchecked: a finding.
template <class Body>
void expect_clean_rejection(Body&& body) {
  try {
    body();
  } catch (const std::bad_alloc& e) {
    std::fprintf(stderr, "fuzz finding: allocation failed (%s): a size from the input was not checked\n", e.what());
    std::abort();
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "fuzz finding: std::length_error (%s): a size from the input was not checked\n", e.what());
    std::abort();
  } catch (const std::exception&) {
    // rejected with a message: what bad input should get
  }
}

// Splits `text` at the first `separator`: (before, after); after is empty when absent.
inline std::pair<std::string_view, std::string_view> split_once(std::string_view text, std::string_view separator) {
  const size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + separator.size())};
}

}  // namespace actinfer::fuzz
