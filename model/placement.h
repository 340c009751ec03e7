// A placement: which FFN neurons of each layer are hot (served by the
// gpu-worker). Stored as a small GGUF side file, as PowerInfer does: one U8
// tensor `blk.N.gpu_idx` of d_ff flags per layer (1 = hot), plus the model's
// shape in metadata so a placement cannot be applied to the wrong model.
// load_placement also reads PowerInfer's own GPU index files (PWRI magic, arch
// "generic.gpu_index", I32 blk.N.gpu_idx flags), so `run --placement` takes them as they are.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "model/model_config.h"

namespace actinfer {

struct Placement {
  std::vector<std::vector<uint8_t>> hot;  // [layer][neuron]: 1 = hot
  int64_t n_hot() const;
};

// Throws std::runtime_error naming the file and the problem (missing layer,
// wrong neuron count, another model's shape, flags other than 0/1).
Placement load_placement(const std::filesystem::path& path, const ModelConfig& model);
void write_placement(const std::filesystem::path& path, const ModelConfig& model, const Placement& placement);

}  // namespace actinfer
