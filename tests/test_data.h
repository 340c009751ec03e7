// Where tests write their scratch files: the build's testdata folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace actinfer::testing {

inline std::filesystem::path test_data_path(const std::string& name) {
  const std::filesystem::path dir = ACTINFER_TEST_DATA_DIR;
  std::filesystem::create_directories(dir);
  return dir / name;
}

// Writes bytes to test_data_path(name) and returns that path.
inline std::filesystem::path write_test_file(const std::vector<uint8_t>& bytes, const std::string& name) {
  const auto p = test_data_path(name);
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return p;
}

// n token ids below vocab from a fixed-seed LCG: the same on every platform.
inline std::vector<int32_t> random_tokens(size_t n, uint64_t seed, int vocab) {
  std::vector<int32_t> t(n);
  for (auto& v : t) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<int32_t>((seed >> 33) % static_cast<uint64_t>(vocab));
  }
  return t;
}

}  // namespace actinfer::testing
