// Where tests write their scratch files: the build's testdata folder.
#pragma once
#include <filesystem>
#include <string>

namespace actinfer::testing {

inline std::filesystem::path test_data_path(const std::string& name) {
  const std::filesystem::path dir = ACTINFER_TEST_DATA_DIR;
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace actinfer::testing
