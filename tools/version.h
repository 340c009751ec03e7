// `actinfer --version`: version, git commit, build type, CPU features, CUDA.
#pragma once
#include <string>

namespace actinfer::tools {
std::string version_text();
}
