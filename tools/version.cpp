#include "tools/version.h"

#include "tools/build_info.h"

namespace actinfer::tools {
namespace {

// The instruction sets the kernels were compiled for (-march), which is what they use.
std::string compiled_cpu_features() {
  std::string f;
  auto add = [&f](const char* name) { f += f.empty() ? name : std::string(" ") + name; };
#ifdef __AVX__
  add("AVX");
#endif
#ifdef __AVX2__
  add("AVX2");
#endif
#ifdef __FMA__
  add("FMA");
#endif
#ifdef __F16C__
  add("F16C");
#endif
#ifdef __AVX512F__
  add("AVX512F");
#endif
#ifdef __AVX512BW__
  add("AVX512BW");
#endif
#ifdef __AVX512VNNI__
  add("AVX512VNNI");
#endif
#ifdef __ARM_NEON
  add("NEON");
#endif
  return f.empty() ? "baseline only" : f;
}

}  // namespace

std::string version_text() {
  std::string s = "actinfer " ACTINFER_VERSION "\n";
  s += "commit      " ACTINFER_GIT_COMMIT "\n";
  s += std::string("build type  ") + (*ACTINFER_BUILD_TYPE ? ACTINFER_BUILD_TYPE : "none") + "\n";
  s += "CPU         " + compiled_cpu_features() + "\n";
#ifdef ACTINFER_HAVE_CUDA
  s += "CUDA        on (kernels compiled; a device is looked for at run time)";
#else
  s += "CUDA        off (built without nvcc: host backend only)";
#endif
  return s;
}

}  // namespace actinfer::tools
