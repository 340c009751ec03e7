// Fuzz targets: the side files read against a model (tests/fuzz/seeds/model.gguf, the tiny
// model the seed side files were made for). Compiled once per kind with ACTINFER_SIDE_FILE
// = 1 (profile), 2 (predictor) or 3 (placement).
#include <cstdint>
#include <string>

#include "model/gguf_file.h"
#include "model/model_config.h"
#include "model/placement.h"
#include "model/predictor_file.h"
#include "model/profile_file.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actinfer;
  static const ModelConfig model =
      ModelConfig::from_gguf(GgufFile::open(std::string(ACTINFER_SOURCE_DIR) + "/tests/fuzz/seeds/model.gguf"));
  const auto path = fuzz::write_input(data, size, "side_file_" + std::to_string(ACTINFER_SIDE_FILE));
  fuzz::expect_clean_rejection([&] {
#if ACTINFER_SIDE_FILE == 1
    const auto profile = load_profile(path, model);
    (void)profile;
#elif ACTINFER_SIDE_FILE == 2
    const auto predictors = read_predictor_file(path, model);
    (void)predictors;
#else
    const auto placement = load_placement(path, model);
    (void)placement.n_hot();
#endif
  });
  return 0;
}
